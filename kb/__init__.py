"""Knowledge base (hierarchical ingest, ONNX embedder, Chroma): see issue 'Knowledge base'."""
