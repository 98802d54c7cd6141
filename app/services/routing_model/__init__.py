"""The learned router (issue 15): masking (mask), the model and its safe storage (model), cross-validated
evaluation (evaluate), the stored current models (store), training from confirmed tickets (training) and the
suggestion triage asks for (suggest). scikit-learn is imported only when a model is trained or loaded."""
from app.services.routing_model.suggest import Suggestion, suggest

__all__ = ["Suggestion", "suggest"]
