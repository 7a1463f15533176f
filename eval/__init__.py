"""Eval: the offline benchmark that scores retrieval, answers, citations and handoff."""
