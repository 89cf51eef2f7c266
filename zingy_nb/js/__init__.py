"""JavaScript flow kernels: Deno's Jupyter kernel behind a proxy that redacts what it
sends and answers its ``zingyConn`` from the agent (docs/javascript.md)."""
