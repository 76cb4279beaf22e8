// Package runtime turns pod specs into running containers through containerd
// (embedded in the outpost binary, or an external socket).
//
// A pod is a pinned network namespace configured by CNI (no pause
// container), a directory on the host (<data>/pods/<uid>: hosts,
// resolv.conf, emptyDir volumes, logs) and its containers, all of them in
// one runc shim. Everything the runtime creates carries labels (pod source,
// name and uid, container name, spec hash, restart attempt) so that a
// restarted agent rebuilds its picture from containerd alone and adopts
// running containers instead of recreating them.
//
// The runtime keeps no state of its own beyond containerd's, CNI's and the
// pod directories; it is told what to run and reports what exists (List) and
// what happened (Events).
package runtime
