// Package agent makes what runs on the node equal what the store says
// should run, keeps it healthy, and tells the truth about it: the kubelet of
// the device.
//
// The Agent watches the store's merged desired state and the runtime's task
// events. It runs one worker goroutine per pod (podworker.go): the worker
// owns that pod's whole lifecycle (sandbox, init containers, containers,
// restarts with crash-loop backoff, probes, termination) and nothing else;
// the latest desired spec wins and pending updates collapse. Status flows
// from the workers to one status manager that writes snapshots to the store;
// events go to the store's event ring and outbox.
//
// At start the agent lists what the runtime already runs (by labels) and
// adopts it: a container whose pod still wants the same spec (same spec
// hash) keeps running. So an agent restart, a reconnect or a re-delivered
// document never restarts a healthy container, and a device that boots with
// no network runs every pod the store remembers.
package agent
