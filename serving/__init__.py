"""The FastAPI app: ranked lists, scores, explanations, auth, audit log, web pages."""
