// Package localapi is the agent's local API: HTTP and JSON on a unix socket
// (<data>/outpost.sock), for the technician on site with no link to the
// control plane. The outpost CLI (get, describe, logs, apply, delete, exec,
// status) speaks only to it.
//
// It owns the socket: created 0600 for root alone, a stale one left by a
// crash replaced, removed on shutdown. It reads the store (desired state,
// status, events, outbox), the pods' log files and the runtime's container
// list, runs exec sessions, and changes exactly one thing: the static source,
// through the manifest directory (ManifestDir), never the store directly.
//
// # Endpoints
//
//	GET    /v1/pods                       PodList
//	GET    /v1/pods/{name}                PodDetail (spec, status, recent events)
//	GET    /v1/pods/{name}/logs           text; container, follow, tail, previous, timestamps
//	POST   /v1/pods/{name}/exec           upgrade to outpost-exec; container, tty, stdin, command (repeated)
//	DELETE /v1/pods/{name}                ApplySummary (static pods only)
//	GET    /v1/services                   ServiceList
//	GET    /v1/node                       NodeView
//	GET    /v1/status                     StatusView
//	GET    /v1/events                     EventList; object, limit
//	POST   /v1/apply                      ApplySummary; body: manifest bytes; 422 with Problems when invalid
//
// Errors are JSON ErrorBody values with a status code that matches Reason.
//
// # Exec stream
//
// POST /v1/pods/{name}/exec with "Connection: Upgrade" and
// "Upgrade: outpost-exec" answers 101 Switching Protocols, then both sides
// exchange frames on the raw connection: a 1-byte stream id (StreamStdin,
// StreamStdout, StreamStderr, StreamExit, StreamStdinClose), a 4-byte
// big-endian payload length and the payload. The client sends stdin and
// stdin-close frames; the server sends stdout, stderr and, last, one exit
// frame (a 4-byte big-endian exit code, then an optional error message), and
// closes the connection. A client that goes away ends the command.
package localapi
