"""The production vector index: Pinecone (serverless), through its official SDK."""
