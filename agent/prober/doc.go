// Package prober runs a container's startup, liveness and readiness probes
// the way kubelet does, and tells its owner when a probe's state changes.
//
// A pod worker starts one Worker per (container, probe kind) with the
// container's context and cancels that context when the container ends; a
// new container gets new workers. The package owns nothing but those
// goroutines: it never restarts or kills a container itself, it reports that
// one must be restarted (Result.NeedsRestart) and leaves acting to the owner.
//
// States start as kubelet's do: readiness not ready, liveness healthy,
// startup not started. While a startup probe has not succeeded the other two
// do not run (wire them with StartupGate, or build all three with
// ContainerWorkers). A state flips after SuccessThreshold consecutive
// successes or FailureThreshold consecutive failures. Attempts that could
// not be made at all (the runtime failed an exec, a named port is missing)
// are not counted, as in kubelet; a timed-out attempt is a failure.
//
// Run is the one-shot probe the workers use: exec through the consumer-side
// Execer, httpGet (200-399 succeed, TLS unverified, redirects followed only
// to the same host, no proxy) and tcpSocket (a completed connect succeeds).
package prober
