package main

import "time"

// On AWS Lambda (detected from AWS_LAMBDA_FUNCTION_NAME, which Lambda sets)
// Tollgate runs behind the Lambda Web Adapter, an external extension that
// turns each invocation into an HTTP request to the port in AWS_LWA_PORT or
// PORT (8080 when neither is set) and probes AWS_LWA_READINESS_CHECK_PATH
// until it answers. What changes there, and where it is decided:
//
//   - the listen address: defaultAddr, ":PORT" from AWS_LWA_PORT or PORT,
//     else 127.0.0.1:8080, where the adapter connects by default;
//   - EMF lines on stdout by default (-emf), which CloudWatch Logs turns into
//     metrics: every line is written, unbuffered, when its request ends, so
//     nothing is left to flush when the environment shuts down;
//   - the embedded store is refused (openStore): each instance would keep a
//     budget of its own;
//   - the shutdown timeout (lambdaShutdownTimeout, below).
//
// Nothing heavy loads at start on any platform: the model list is fetched
// on the first request that needs it, and the tiktoken encoding on the
// first estimate that needs it (internal/tokens).

// lambdaShutdownTimeout is how long in-flight requests may finish after
// SIGTERM on Lambda. Lambda sends SIGTERM only to an idle environment and,
// with an external extension such as the Web Adapter registered, gives the
// runtime process at most 300 ms before SIGKILL; the rest of the 2 s
// shutdown phase belongs to the extensions. 200 ms leaves the remainder for
// stopping the background work and exiting.
const lambdaShutdownTimeout = 200 * time.Millisecond

// serverShutdownTimeout is the -shutdown-timeout default elsewhere: a
// container orchestrator's grace period (Kubernetes' default is 30 s) minus
// a margin, so that streams in flight can finish.
const serverShutdownTimeout = 25 * time.Second

// defaultShutdownTimeout is the -shutdown-timeout default, which
// TOLLGATE_SHUTDOWN_TIMEOUT and the flag override.
func defaultShutdownTimeout(onLambda bool) time.Duration {
	if onLambda {
		return lambdaShutdownTimeout
	}
	return serverShutdownTimeout
}
