// Package containerspec turns one container of a pod spec into the OCI
// runtime spec options containerd applies when it creates the container.
//
// It owns the security defaults: every container gets containerd's default
// capability set adjusted by the spec's add/drop, no-new-privileges, the
// default seccomp profile, and cgroup limits from its resources; privileged
// containers, hostPath volumes and capabilities added beyond the default
// set are refused unless the node's Policy allows them (ErrForbidden). A
// container with runAsNonRoot that would run as uid 0, or as an image user
// name that does not resolve, is refused (ErrRunAsNonRoot). Its only I/O is
// for hostPath volumes: checking them against the allowed prefixes (symlinks
// resolved) and against their type (ErrHostPathType), and creating them for
// DirectoryOrCreate and FileOrCreate.
package containerspec
