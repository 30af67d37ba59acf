// Package imagecopy is the image copy engine of the ImageStream actions: it copies images
// between a cluster's internal registry and an image store inside a Velero backup storage
// location, in-process, with no registry server running anywhere, or between registries (a
// cluster's internal registry and a migration registry).
//
// The store side is distribution's registry storage layer (github.com/distribution/distribution/v3
// registry/storage) over the storage driver the location's provider selects (S3-compatible,
// Azure, GCS, or a local directory), rooted at <prefix>/plugins/openshift-velero-plugin/images/
// of the location (ImagesDir: Velero tolerates no other top-level folder there). The copy is
// containers/image's copy.Image between the docker:// transport (the registry) and a transport
// of this package implemented directly over the store's repositories: layers stream from one end
// to the other with bounded memory.
//
//	store, err := imagecopy.OpenStore(ctx, bsl, imagecopy.StoreOptions{Credentials: secretBytes, Log: log})
//	reg, err := imagecopy.NewRegistry(imagecopy.RegistryOptions{Host: host, Token: saToken, CA: serviceCA})
//	src, _ := reg.Image("ns/app", "sha256:...")
//	dst, _ := store.Image("ns/app", "sha256:...")
//	res, err := (&imagecopy.Copier{Log: log}).Copy(ctx, src, dst)
//
// Every copy ends as that image's Result: a copy that moves no data for Copier.IdleTimeout, or
// runs past Copier.Timeout, is stopped (the first retried as transient), and a panic in
// containers/image, distribution or this package during a copy is an "internal error" of that
// image, not the end of the plugin process.
//
// A registry can also be an end of its own, as MTC's migration registry is: anonymous, plain HTTP
// or TLS (RegistryOptions.AllowPlainHTTP: probed once, TLS always verified unless configured).
//
// Building needs the tag containers_image_openpgp (pure Go signature code; without it
// containers/image requires cgo and libgpgme), as everywhere in this module:
//
//	go test -tags containers_image_openpgp ./velero-plugins/imagecopy/...
package imagecopy
