package images_test

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime/testimage"
)

// registry is a Debian docker-registry (distribution v2.8) process on a
// loopback port, storing in a temp dir; it is killed at the end of the test.
type registry struct {
	t      *testing.T
	host   string // 127.0.0.1:port
	scheme string
	client *http.Client // trusts the test CA
	user   string
	pass   string

	cmd      *exec.Cmd
	stopOnce sync.Once
}

type registryOpts struct {
	tls        *testCA // serve https with a certificate from this CA
	user, pass string  // require basic auth (htpasswd, bcrypt)
	port       int     // fixed port, to restart a registry in place
}

func startRegistry(t *testing.T, o registryOpts) *registry {
	t.Helper()
	bin := testenv.RequireBinary(t, "docker-registry", "docker-registry")
	dir := t.TempDir()
	port := o.port
	if port == 0 {
		port = freePort(t)
	}
	r := &registry{t: t, host: fmt.Sprintf("127.0.0.1:%d", port), scheme: "http", client: &http.Client{}, user: o.user, pass: o.pass}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), r.host)
	if o.tls != nil {
		cert, key := o.tls.serverCert(t, dir)
		cfg += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", cert, key)
		r.scheme = "https"
		r.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: o.tls.pool()}}}
	}
	if o.user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(o.pass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(o.user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: outpost\n    path: %s\n", htpasswd)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(bin, "serve", cfgPath)
	r.cmd.Stdout, r.cmd.Stderr = testWriter{t}, testWriter{t}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stop)
	r.waitReady()
	return r
}

// stop kills the registry; the test goes on with it unreachable.
func (r *registry) stop() {
	r.stopOnce.Do(func() {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	})
}

func (r *registry) waitReady() {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := r.client.Get(r.scheme + "://" + r.host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("registry on %s not ready after 30 s", r.host)
}

func (r *registry) do(method, path, contentType string, body []byte, want int) *http.Response {
	r.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = r.scheme + "://" + r.host + path
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if r.user != "" {
		req.SetBasicAuth(r.user, r.pass)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(resp.Body)
		r.t.Fatalf("%s %s: %s, want %d: %s", method, path, resp.Status, want, msg)
	}
	return resp
}

// push uploads img as repo:tag with the distribution API (monolithic blob
// uploads, then the manifest).
func (r *registry) push(repo, tag string, img testImage) {
	r.t.Helper()
	for _, b := range img.blobs {
		resp := r.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil, http.StatusAccepted)
		loc, err := resp.Location()
		if err != nil {
			r.t.Fatal(err)
		}
		q := loc.Query()
		q.Set("digest", digest.FromBytes(b).String())
		loc.RawQuery = q.Encode()
		r.do(http.MethodPut, loc.String(), "application/octet-stream", b, http.StatusCreated)
	}
	r.do(http.MethodPut, "/v2/"+repo+"/manifests/"+url.PathEscape(tag), ocispec.MediaTypeImageManifest, img.manifest, http.StatusCreated)
}

// testImage is the busybox test image as registry blobs.
type testImage struct {
	manifest []byte
	blobs    [][]byte // config, layers
	layer    int64    // size of the (only) layer
}

var (
	busyboxOnce sync.Once
	busyboxImg  testImage
	busyboxErr  error
)

// busybox returns the test image, built once per test binary.
func busybox(t *testing.T) testImage {
	t.Helper()
	busyboxOnce.Do(func() { busyboxImg, busyboxErr = loadTestImage() })
	if busyboxErr != nil {
		t.Fatal(busyboxErr)
	}
	return busyboxImg
}

// variant returns img with a manifest annotation making it a distinct
// image (its own digest) sharing config and layer.
func (img testImage) variant(n int) testImage {
	var m ocispec.Manifest
	if err := json.Unmarshal(img.manifest, &m); err != nil {
		panic(err)
	}
	m.Annotations = map[string]string{"io.outpost.test/variant": fmt.Sprint(n)}
	img.manifest, _ = json.Marshal(m)
	return img
}

func (img testImage) digest() digest.Digest { return digest.FromBytes(img.manifest) }

func loadTestImage() (testImage, error) {
	dir, err := os.MkdirTemp("", "testimage")
	if err != nil {
		return testImage{}, err
	}
	defer os.RemoveAll(dir)
	path, err := testimage.Build(dir, "docker.io/outpost/busybox:test")
	if err != nil {
		return testImage{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return testImage{}, err
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return testImage{}, err
		}
		if files[h.Name], err = io.ReadAll(tr); err != nil {
			return testImage{}, err
		}
	}
	blob := func(d digest.Digest) []byte { return files["blobs/sha256/"+d.Encoded()] }
	var index ocispec.Index
	if err := json.Unmarshal(files[ocispec.ImageIndexFile], &index); err != nil {
		return testImage{}, err
	}
	img := testImage{manifest: blob(index.Manifests[0].Digest)}
	var m ocispec.Manifest
	if err := json.Unmarshal(img.manifest, &m); err != nil {
		return testImage{}, err
	}
	img.blobs = append(img.blobs, blob(m.Config.Digest))
	for _, l := range m.Layers {
		img.blobs = append(img.blobs, blob(l.Digest))
		img.layer = l.Size
	}
	return img, nil
}

// testCA is a self-signed CA for the registry's certificate.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // PEM
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "outpost test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(t.TempDir(), "ca.pem")
	writePEM(t, file, "CERTIFICATE", der)
	return &testCA{cert: cert, key: key, file: file}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// serverCert writes a certificate for 127.0.0.1 and localhost and its key.
func (ca *testCA) serverCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testWriter sends a child process's output to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
