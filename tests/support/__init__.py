"""Test helpers, no tests: starting stacks through the launcher (`stacks`, compose.Stack),
reading service logs (`logs`), users and files over HTTP (`users`, `files`, `quotas`), raw
HTTP (`raw_http`), processes (`processes`), readiness waits (`ready`), external tools (`tools`),
tus (`tus`, `tusd`, `tus_clients`), the browser (`browser`); and `loadtest_sample/`, a recorded
bench run the load-test tooling tests read."""
