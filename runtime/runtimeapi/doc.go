// Package runtimeapi holds what the runtime is told and what it reports,
// as plain values: a pod's reference and sandbox, a container to start and
// how it started, one to exec in, what the runtime finds running and what
// happened to it, and the waiting reasons of errors that keep a container
// from starting. It imports nothing of containerd, so the agent, its
// prober and its local API, which speak to the runtime through interfaces
// of their own, are built and tested without linking it; only runtime and
// cmd/outpost do.
package runtimeapi
