package images

import (
	"fmt"

	"github.com/distribution/reference"
)

// Normalize returns ref in the full form containerd names images by, as
// Docker does: "busybox" is "docker.io/library/busybox:latest",
// "me/app:1" is "docker.io/me/app:1", a digest is kept and a name with
// neither tag nor digest gets ":latest". An unparsable ref (upper case in
// the repository, a bad digest, a bare 64-hex image ID) is ErrInvalidImageName.
func Normalize(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrInvalidImageName, ref, err)
	}
	return reference.TagNameOnly(named).String(), nil
}
