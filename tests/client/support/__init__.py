"""The client tests' helpers: objectives worker processes can import, and a misbehaving proxy."""
