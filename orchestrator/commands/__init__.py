"""One module per `bench` verb: plain functions that the CLI and the tests call."""
