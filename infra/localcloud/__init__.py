"""The local cloud: moto's server with the template deployed and functions running in-process.

- `server`: starts moto on 127.0.0.1:4566 with Step Functions executing definitions and
  Lambda Invoke routed to `runtime`;
- `runtime`: imports a function's handler from its folder and calls it the way Lambda does;
- `packaging`: zips code folders, uploads them, and turns the SAM template into the plain
  CloudFormation that both moto and AWS receive;
- `deploy`: creates or updates the stack and writes its outputs where the API and tests read;
- `scheduler`: fires the EventBridge schedule rules at their Lambda targets;
- `console`: `make run`'s console, a line per API request and per workflow step (the rest of
  the output in a log file); `api_server` runs the API as `chalice local` does, describing
  each request for it.
"""
