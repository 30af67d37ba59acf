//go:build !unix

package imagecopy

import "os"

func ownedByMe(os.FileInfo) bool { return true }
