package harness

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"sort"
	"time"
)

// OCIFile is one entry of an image layer: a regular file (Body), a symbolic
// link (Link) or a directory (Dir).
type OCIFile struct {
	Name string // path inside the image, without a leading slash
	Mode int64  // permission bits
	Body []byte
	Link string
	Dir  bool
}

// OCIImage describes a single-layer linux/amd64 image.
type OCIImage struct {
	Ref        string // full reference containerd stores, e.g. localhost/sg-e2e/busybox:1
	Files      []OCIFile
	Entrypoint []string
	Cmd        []string
	Env        []string
}

// WriteOCIArchive writes img as an OCI image layout in a tar archive at
// path, the format `ctr images import` reads. The reference is carried in
// the io.containerd.image.name annotation of the index, so the import
// needs no naming flags. The archive is reproducible: fixed timestamps,
// owners and order, so the same files give the same digests.
//
// No registry is reachable from the test machines: the real node's pods
// run images written this way and imported into containerd.
func WriteOCIArchive(outPath string, img OCIImage) error {
	layer, err := ociLayer(img.Files)
	if err != nil {
		return err
	}
	layerDigest := ociDigest(layer)
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      "1970-01-01T00:00:00Z",
		"config": map[string]any{
			"Entrypoint": img.Entrypoint,
			"Cmd":        img.Cmd,
			"Env":        img.Env,
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	if err != nil {
		return err
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{
			"mediaType": "application/vnd.oci.image.config.v1+json",
			"digest":    ociDigest(config), "size": len(config),
		},
		"layers": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.layer.v1.tar",
			"digest":    layerDigest, "size": len(layer),
		}},
	})
	if err != nil {
		return err
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []any{map[string]any{
			"mediaType":   "application/vnd.oci.image.manifest.v1+json",
			"digest":      ociDigest(manifest),
			"size":        len(manifest),
			"platform":    map[string]string{"architecture": "amd64", "os": "linux"},
			"annotations": map[string]string{"io.containerd.image.name": img.Ref},
		}},
	})
	if err != nil {
		return err
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	add := func(name string, body []byte) error {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	entries := []struct {
		name string
		body []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{"blobs/sha256/" + ociDigest(layer)[7:], layer},
		{"blobs/sha256/" + ociDigest(config)[7:], config},
		{"blobs/sha256/" + ociDigest(manifest)[7:], manifest},
	}
	for _, e := range entries {
		if err := add(e.name, e.body); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(outPath, out.Bytes(), 0o644)
}

// ociLayer is the uncompressed layer tar of files, parents created as
// directories where files does not list them, sorted by name.
func ociLayer(files []OCIFile) ([]byte, error) {
	all := map[string]OCIFile{}
	for _, f := range files {
		if f.Name == "" || path.IsAbs(f.Name) || path.Clean(f.Name) != f.Name {
			return nil, fmt.Errorf("oci layer: bad path %q", f.Name)
		}
		all[f.Name] = f
		for dir := path.Dir(f.Name); dir != "."; dir = path.Dir(dir) {
			if _, ok := all[dir]; !ok {
				all[dir] = OCIFile{Name: dir, Mode: 0o755, Dir: true}
			}
		}
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		f := all[n]
		hdr := &tar.Header{Name: n, Mode: f.Mode, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		switch {
		case f.Dir:
			hdr.Typeflag, hdr.Name = tar.TypeDir, n+"/"
		case f.Link != "":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, f.Link
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.Body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Body); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func ociDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
