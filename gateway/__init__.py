"""The local platform: an Fn-compatible runtime for eventfn's functions."""
