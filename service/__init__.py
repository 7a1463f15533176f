"""Service: answer questions over the index, and the HTTP API that serves them."""
