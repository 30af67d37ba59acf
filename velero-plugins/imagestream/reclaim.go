package imagestream

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/clients"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/velero-plugins/imagecopy"
)

// ReclaimCommandName is the subcommand of the plugin binaries that sweeps a location's image
// store against the backups that still exist.
const ReclaimCommandName = "reclaim-images"

// ReclaimCommand frees the images of backups deleted before the delete action existed (or
// while the plugin was not installed): a full sweep of one location's image store, dry run
// unless --apply. Run in Velero's pod, it uses the pod's credentials:
//
//	kubectl -n velero exec deploy/velero -c velero -- /plugins/openshift-velero-plugin reclaim-images --location default
func ReclaimCommand() action.Command {
	return reclaimCommand(os.Stdout, os.Stderr, func() (Cluster, BackupLister) {
		c := clusterClients{set: clients.New()}
		return c, c
	}, DefaultEngine())
}

func reclaimCommand(stdout, stderr io.Writer, connect func() (Cluster, BackupLister), engine Engine) action.Command {
	const usage = "reclaim-images --location NAME [--namespace NS] [--apply] [--grace DURATION] [--timeout DURATION]"
	return action.Command{Name: ReclaimCommandName, Usage: usage, Run: func(args []string) int {
		fs := pflag.NewFlagSet(ReclaimCommandName, pflag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() {
			fmt.Fprintf(stderr, "usage: %s\n\n"+
				"Free the images of backups that no longer exist from the image store of a backup storage\n"+
				"location: every manifest and blob no existing backup needs (a Backup object in the\n"+
				"namespace, or its folder in the location) and not written within the grace period, and\n"+
				"leftovers of failed copies older than a day. Prints what it frees (or, without --apply,\n"+
				"would free) in objects and bytes. Nothing is swept while a backup to the location is in\n"+
				"progress.\n\n%s", usage, fs.FlagUsages())
		}
		location := fs.String("location", "", "backup storage location (required)")
		namespace := fs.StringP("namespace", "n", "", "Velero's namespace (default $VELERO_NAMESPACE, else the pod's namespace, else velero)")
		apply := fs.Bool("apply", false, "delete (default: dry run, nothing is changed)")
		grace := fs.Duration("grace", imagecopy.DefaultSweepGrace, "keep what was written or linked more recently than this")
		timeout := fs.Duration("timeout", 2*time.Hour, "stop after this long (a stopped sweep is finished by the next one)")
		if code, ok := action.ParseCommandArgs(fs, args, stderr); !ok {
			return code
		}
		if strings.TrimSpace(*location) == "" {
			fmt.Fprintln(stderr, "no location given: --location is required")
			fs.Usage()
			return 2
		}
		ns := strings.TrimSpace(*namespace)
		if ns == "" {
			if ns = config.VeleroNamespace(); ns == "" {
				ns = "velero"
			}
		}
		log := logrus.New()
		log.Out = stderr
		// distribution's sweep helpers log every path they delete at info through logrus'
		// standard logger (thousands of lines for a large store); the command prints its own
		// summary, so only their warnings and errors are shown, on the command's stderr.
		std := logrus.StandardLogger()
		out, level := std.Out, std.GetLevel()
		std.SetOutput(stderr)
		std.SetLevel(logrus.WarnLevel)
		defer func() { std.SetOutput(out); std.SetLevel(level) }()
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		defer cancel()
		cluster, lister := connect()
		var st stores
		store, err := st.get(ctx, cluster, engine, ns, *location, log)
		if err != nil {
			fmt.Fprintf(stderr, "reclaim-images: %v\n", err)
			return 1
		}
		view := locationBackups{list: lister, namespace: ns, location: *location, store: store}
		rep, err := store.Sweep(ctx, imagecopy.SweepOptions{Backups: view, Full: true, DryRun: !*apply, Grace: *grace})
		for _, w := range rep.Warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
		if err != nil {
			fmt.Fprintf(stderr, "reclaim-images: %v\n", err)
			return 1
		}
		if rep.Skipped != "" {
			fmt.Fprintf(stdout, "%s: nothing swept: %s; run again later\n", store, rep.Skipped)
			return 1
		}
		verb := "would free"
		if *apply {
			verb = "freed"
		}
		fmt.Fprintf(stdout, "%s: %s %d objects, %d bytes (%d manifests, %d blobs, %d upload folders, %d unfinished multipart uploads); %d kept as recent\n",
			store, verb, rep.Objects, rep.Bytes, rep.Manifests, rep.Blobs, rep.Uploads, rep.MultipartUploads, rep.Kept)
		if len(rep.Derived) > 0 {
			fmt.Fprintf(stdout, "references derived from the contents of %d backups taken without reference records\n", len(rep.Derived))
		}
		if !*apply {
			fmt.Fprintln(stdout, "dry run: nothing was deleted; run with --apply to delete")
		}
		return 0
	}}
}
