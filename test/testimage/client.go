package testimage

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// manifestAccept is every single-image and index media type, for GET manifest.
var manifestAccept = strings.Join([]string{DockerManifest, v1.MediaTypeImageManifest, DockerList, v1.MediaTypeImageIndex}, ", ")

// Client is a test's own access to a registry over HTTPS.
type Client struct {
	Host      string       // host:port
	HTTP      *http.Client // trusting the registry's CA
	Authorize func(*http.Request)
}

// BearerAuth authorizes requests with a bearer token (OpenShift's internal registry).
func BearerAuth(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// BasicAuth authorizes requests with a user and password (a registry behind htpasswd).
func BasicAuth(user, password string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, password) }
}

// Do sends req with the client's authorization.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if c.Authorize != nil {
		c.Authorize(req)
	}
	return c.HTTP.Do(req)
}

func (c *Client) url(path string) string {
	if strings.HasPrefix(path, "https://") {
		return path
	}
	return "https://" + c.Host + path
}

// send makes one request and reads the whole response.
func (c *Client) send(method, path, contentType, accept string, body io.Reader, size int64) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, c.url(path), body)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp, raw, err
}

// HasBlob reports whether the repository serves the blob.
func (c *Client) HasBlob(repo string, d digest.Digest) (bool, error) {
	resp, _, err := c.send(http.MethodHead, "/v2/"+repo+"/blobs/"+d.String(), "", "", nil, 0)
	if err != nil {
		return false, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("registry %s: HEAD blob %s in %s: %s", c.Host, d, repo, resp.Status)
}

// PushBlob uploads a blob (one monolithic upload) unless the repository has it.
func (c *Client) PushBlob(repo string, b Blob) error {
	if ok, err := c.HasBlob(repo, b.Digest); err != nil || ok {
		return err
	}
	resp, _, err := c.send(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", "", nil, 0)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("registry %s: starting an upload to %s: %s", c.Host, repo, resp.Status)
	}
	loc, err := resp.Location()
	if err != nil {
		return fmt.Errorf("registry %s: upload location: %w", c.Host, err)
	}
	q := loc.Query()
	q.Set("digest", b.Digest.String())
	loc.RawQuery = q.Encode()
	body := b.Open()
	defer body.Close()
	resp, raw, err := c.send(http.MethodPut, loc.String(), "application/octet-stream", "", body, b.Size)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("registry %s: uploading blob %s to %s: %s %s", c.Host, b.Digest, repo, resp.Status, raw)
	}
	return nil
}

// PushManifest stores m under ref (a tag or its digest) and checks the digest the registry
// reports for it.
func (c *Client) PushManifest(repo, ref string, m Manifest) error {
	resp, raw, err := c.send(http.MethodPut, "/v2/"+repo+"/manifests/"+ref, m.MediaType, "", bytes.NewReader(m.Raw), int64(len(m.Raw)))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("registry %s: PUT manifest %s:%s: %s %s", c.Host, repo, ref, resp.Status, raw)
	}
	if got := digest.Digest(resp.Header.Get("Docker-Content-Digest")); got != m.Digest {
		return fmt.Errorf("registry %s: PUT manifest %s:%s stored digest %s, want %s", c.Host, repo, ref, got, m.Digest)
	}
	return nil
}

// Push uploads an image: its blobs, an index's instances by digest, then its manifest under each
// tag (by digest when no tag is given).
func (c *Client) Push(repo string, img *Image, tags ...string) error {
	for _, b := range img.Blobs {
		if err := c.PushBlob(repo, b); err != nil {
			return err
		}
	}
	for _, m := range img.Children {
		if err := c.PushManifest(repo, m.Digest.String(), m); err != nil {
			return err
		}
	}
	if len(tags) == 0 {
		tags = []string{img.Digest.String()}
	}
	for _, tag := range tags {
		if err := c.PushManifest(repo, tag, img.Manifest); err != nil {
			return err
		}
	}
	return nil
}

// Manifest fetches a manifest by tag or digest. found is false on 404; the digest is the one the
// registry reports (Docker-Content-Digest), checked against the bytes served.
func (c *Client) Manifest(repo, ref string) (m Manifest, found bool, err error) {
	resp, raw, err := c.send(http.MethodGet, "/v2/"+repo+"/manifests/"+url.PathEscape(ref), "", manifestAccept, nil, 0)
	if err != nil {
		return Manifest{}, false, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return Manifest{}, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return Manifest{}, false, fmt.Errorf("registry %s: GET manifest %s:%s: %s", c.Host, repo, ref, resp.Status)
	}
	d := digest.Digest(resp.Header.Get("Docker-Content-Digest"))
	if got := digest.FromBytes(raw); d != got {
		return Manifest{}, false, fmt.Errorf("registry %s: manifest %s:%s: Docker-Content-Digest %s, but the bytes served hash to %s", c.Host, repo, ref, d, got)
	}
	return Manifest{MediaType: resp.Header.Get("Content-Type"), Raw: raw, Digest: d}, true, nil
}
