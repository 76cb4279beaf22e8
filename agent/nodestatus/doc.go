// Package nodestatus computes what the node reports about itself — capacity,
// allocatable, conditions, addresses and machine info — and decides which
// pod to evict when the node runs short of memory, disk or pids.
//
// Every read of the machine goes through System (Host is the real one), and
// pod usage through UsageSource (CgroupUsage is the real one), so that tests
// run against fixed text and a fixed clock.
//
// # Capacity and allocatable
//
// cpu is the number of online CPUs, memory is MemTotal, ephemeral-storage is
// the size of the filesystem holding the data dir, pods is the configured
// maximum (110). Allocatable is capacity minus the system reservation
// (default cpu 100m, memory 128Mi) and, for memory and ephemeral-storage,
// minus the hard eviction threshold on that resource, as kubelet does.
//
// # Conditions
//
// A threshold ("memory.available<100Mi", "nodefs.available<10%",
// "nodefs.inodesFree<5%", "pid.available<5%") is met when the available
// amount drops below it; a soft threshold (GracePeriod > 0) only once it has
// stayed below that long. MemoryPressure, DiskPressure and PIDPressure are
// True while one of their thresholds was met within the pressure transition
// period (5m), so that they do not flap. A signal that cannot be read makes
// its condition Unknown. Ready is True unless CheckCgroups finds the
// cgroups containers need missing (reason OutpostCgroupsUnusable, the
// message naming the fix) or the readiness function fails.
// LastTransitionTime changes only when a condition's status does.
//
// memory.available is MemAvailable from /proc/meminfo rather than kubelet's
// capacity minus the root cgroup's working set: the root cgroup of cgroup v2
// has no memory.current, and MemAvailable is the kernel's own estimate. pids
// available is min(pid_max, threads-max) minus the tasks counted in
// /proc/loadavg.
//
// # Eviction order
//
// When thresholds are met, the most pressing one is acted on first: memory,
// then nodefs.available, then nodefs.inodesFree, then pid.available. One
// pod is evicted per evaluation, so the next evaluation sees what the
// eviction freed. Pods with priority at or above 2000000000
// (system-critical) are never evicted. Pods are ranked:
//
//   - memory: first the pods whose memory use (cgroup working set) exceeds
//     their memory request, then by priority, lowest first (unset is 0),
//     then by how far use is above the request, largest first. A pod
//     without a memory request exceeds it as soon as it uses any memory.
//   - disk (nodefs.available, nodefs.inodesFree): first the pods whose disk
//     use (files under <data>/pods/<uid>) exceeds their ephemeral-storage
//     request, then by priority, lowest first, then by use above the
//     request, largest first. Inodes are ranked by bytes too: per-pod
//     inode counts are not measured.
//   - pids: by priority, lowest first, then by tasks in the pod cgroup,
//     most first.
//
// Remaining ties are broken by pod name, then uid. A pod's request is
// computed as in admission: max(largest init container request, sum of
// container requests), a container's limit standing for a missing request.
// An evicted pod gets no grace period (killed at once) for a hard threshold,
// and min(its terminationGracePeriodSeconds, 30s when unset;
// EvictorConfig.MaxPodGracePeriod, 30s by default) for a soft one.
package nodestatus
