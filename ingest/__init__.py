"""Ingest: turn help content and past tickets into a searchable index."""
