package api

import (
	"fmt"
	"strconv"
)

// DisplayReason is what kubectl shows in a pod's STATUS column: the pod's
// reason or phase, or the most telling reason of its first troubled init
// container or of a troubled container ("Init:1/2", "CrashLoopBackOff",
// "OOMKilled"). Both CLIs (outpost and outpostctl) show it.
func (s *PodStatus) DisplayReason() string {
	reason := s.Phase
	if s.Reason != "" {
		reason = s.Reason
	}
	if reason == "" {
		reason = PodPending
	}
	for i, c := range s.InitContainerStatuses {
		t, wt := c.State.Terminated, c.State.Waiting
		switch {
		case t != nil && t.ExitCode == 0:
			continue
		case t != nil:
			return "Init:" + t.Text()
		case wt != nil && wt.Reason != "" && wt.Reason != "PodInitializing":
			return "Init:" + wt.Reason
		default:
			return fmt.Sprintf("Init:%d/%d", i, len(s.InitContainerStatuses))
		}
	}
	running := false
	for i := len(s.ContainerStatuses) - 1; i >= 0; i-- {
		c := s.ContainerStatuses[i]
		switch {
		case c.State.Waiting != nil && c.State.Waiting.Reason != "":
			reason = c.State.Waiting.Reason
		case c.State.Terminated != nil:
			reason = c.State.Terminated.Text()
		case c.State.Running != nil && c.Ready:
			running = true
		}
	}
	if reason == "Completed" && running {
		reason = PodRunning
	}
	return reason
}

// Text is a terminated state in one word: its reason, else the signal or
// the exit code.
func (t *ContainerStateTerminated) Text() string {
	switch {
	case t.Reason != "":
		return t.Reason
	case t.Signal != 0:
		return "Signal:" + strconv.Itoa(int(t.Signal))
	}
	return "ExitCode:" + strconv.Itoa(int(t.ExitCode))
}
