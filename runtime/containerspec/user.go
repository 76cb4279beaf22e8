package containerspec

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// ErrRunAsNonRoot is wrapped when a container sets runAsNonRoot and would run
// as root, or as an image user whose uid cannot be verified. Kubelet refuses
// such a container too (CreateContainerConfigError), with the same words.
var ErrRunAsNonRoot = runtimeapi.NewWaitingError("CreateContainerConfigError", "container has runAsNonRoot")

// userOpts sets the process user: runAsUser, else the image's USER (a name
// is resolved in the image's /etc/passwd when the spec is generated), else
// root; runAsGroup overrides the primary group. With runAsNonRoot, a uid
// known now (runAsUser, a numeric USER, no USER) that is 0 is refused here,
// and a user name is checked once resolved.
func userOpts(c *api.Container, sc *api.SecurityContext, image ocispec.ImageConfig) ([]oci.SpecOpts, error) {
	nonRoot := sc.RunAsNonRoot != nil && *sc.RunAsNonRoot
	uid, known := knownUID(sc, image)
	if nonRoot && known && uid == 0 {
		return nil, fmt.Errorf("container %q: %w and image will run as root (uid 0): set securityContext.runAsUser to a non-zero uid or use an image whose USER is not root", c.Name, ErrRunAsNonRoot)
	}
	var opts []oci.SpecOpts
	switch {
	case sc.RunAsUser != nil && sc.RunAsGroup != nil:
		opts = []oci.SpecOpts{oci.WithUIDGID(uint32(*sc.RunAsUser), uint32(*sc.RunAsGroup))}
	case sc.RunAsUser != nil:
		// The group comes from the image's /etc/passwd, as in Kubernetes.
		opts = []oci.SpecOpts{oci.WithUserID(uint32(*sc.RunAsUser))}
	case image.User != "":
		user := oci.WithUser(image.User)
		if nonRoot && !known {
			user = resolvedNonRoot(c.Name, image.User, user)
		}
		opts = []oci.SpecOpts{user}
		if sc.RunAsGroup != nil {
			opts = append(opts, withGID(uint32(*sc.RunAsGroup)))
		}
	case sc.RunAsGroup != nil:
		opts = []oci.SpecOpts{oci.WithUIDGID(0, uint32(*sc.RunAsGroup))}
	}
	return opts, nil
}

// knownUID is the uid the container runs as when it is known without the
// image's /etc/passwd.
func knownUID(sc *api.SecurityContext, image ocispec.ImageConfig) (uint32, bool) {
	if sc.RunAsUser != nil {
		return uint32(*sc.RunAsUser), true
	}
	if image.User == "" {
		return 0, true
	}
	u, _, _ := strings.Cut(image.User, ":")
	uid, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(uid), true
}

// resolvedNonRoot runs userOpt (the image's USER, by name) and refuses the
// container when the name resolves to uid 0 or does not resolve at all.
func resolvedNonRoot(container, user string, userOpt oci.SpecOpts) oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		if err := userOpt(ctx, client, c, s); err != nil {
			return fmt.Errorf("container %q: %w and image has non-numeric user (%s), cannot verify user is non-root: %v", container, ErrRunAsNonRoot, user, err)
		}
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		if s.Process.User.UID == 0 {
			return fmt.Errorf("container %q: %w and image will run as root (user %q is uid 0)", container, ErrRunAsNonRoot, user)
		}
		return nil
	}
}
