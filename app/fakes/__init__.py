"""Local fakes of the networks' APIs (real JSON shapes) for tests and the demo simulator."""
