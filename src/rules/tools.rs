//! Operator tools (wired into the CLI by the lead): `rules check` and `rules test`/explain.
