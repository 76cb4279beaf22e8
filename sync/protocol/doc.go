// Package protocol is the wire contract between an Outpost node and its
// control plane over MQTT: the topic names, what each payload holds, the
// signature envelope around desired-state documents, and the checks a
// document passes before it may become desired state. docs/protocol.md is
// the same contract in prose, for implementers in other languages.
//
// It knows api and the standard library only: no broker client, no store.
package protocol
