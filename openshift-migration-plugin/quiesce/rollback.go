package quiesce

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/velero-openshift/plugins/common/action"
)

// CommandName is the plugin binary's first argument that runs the rollback.
const CommandName = "unquiesce"

const usage = CommandName + " --namespace NS [--namespace NS2 ...] [--kubeconfig FILE] [--dry-run]"

// Rollback unquiesces every workload of the quiescable kinds in the namespaces that carries
// quiesce records, writing one line per workload changed (or, with dryRun, that would change:
// nothing is written to the cluster) and a summary to out. Every workload is attempted; the error
// counts the failures, each of which is also written with the object it concerns.
func Rollback(ctx context.Context, client dynamic.Interface, namespaces []string, dryRun bool, out io.Writer) error {
	r := rollback{client: client, dryRun: dryRun, out: out, timeout: callTimeout, attempts: updateAttempts}
	seen := map[string]bool{}
	for _, ns := range namespaces {
		if seen[ns] {
			continue
		}
		seen[ns] = true
		for _, k := range kinds {
			r.kind(ctx, ns, k)
		}
	}
	verb := "unquiesced"
	if dryRun {
		verb = "would be unquiesced (dry run: nothing written)"
	}
	fmt.Fprintf(out, "%d workload(s) %s, %d failed\n", r.changed, verb, r.failed)
	if r.failed > 0 {
		return fmt.Errorf("%d failure(s)", r.failed)
	}
	return nil
}

type rollback struct {
	client          dynamic.Interface
	dryRun          bool
	out             io.Writer
	timeout         time.Duration
	attempts        int
	changed, failed int
}

// kind unquiesces the workloads of one kind in one namespace.
func (r *rollback) kind(ctx context.Context, ns string, k kind) {
	res, items, err := r.list(ctx, ns, k)
	if err != nil {
		r.failed++
		fmt.Fprintf(r.out, "FAILED listing %s in %s: %v\n", k.qualified(), ns, err)
		return
	}
	for i := range items {
		obj := &items[i]
		if !HasRecords(obj) {
			continue
		}
		name := fmt.Sprintf("%s %s/%s", k.gk.Kind, ns, obj.GetName())
		var changes []string
		if r.dryRun {
			changes, err = unquiesce(obj.DeepCopy())
		} else {
			changes, err = updateLive(ctx, res, obj.GetName(), obj, unquiesce, r.attempts, r.timeout)
		}
		switch {
		case isGone(err):
			fmt.Fprintf(r.out, "skipped %s: gone\n", name)
		case err != nil:
			r.failed++
			fmt.Fprintf(r.out, "FAILED %s: %v\n", name, err)
		case len(changes) > 0:
			r.changed++
			prefix := "unquiesced"
			if r.dryRun {
				prefix = "would unquiesce"
			}
			fmt.Fprintf(r.out, "%s %s: %s\n", prefix, name, strings.Join(changes, "; "))
		}
	}
}

// list lists a kind in a namespace at the first version the cluster serves, page by page. A kind
// the cluster does not serve at all (no DeploymentConfigs on Kubernetes) has no workloads.
func (r *rollback) list(ctx context.Context, ns string, k kind) (dynamic.ResourceInterface, []unstructured.Unstructured, error) {
	var lastErr error
	for _, v := range k.versions {
		res := r.client.Resource(k.gvr(v)).Namespace(ns)
		var items []unstructured.Unstructured
		opts := metav1.ListOptions{Limit: 500}
		for {
			lctx, cancel := context.WithTimeout(ctx, r.timeout)
			list, err := res.List(lctx, opts)
			cancel()
			if err != nil {
				lastErr = err
				break
			}
			items = append(items, list.Items...)
			if opts.Continue = list.GetContinue(); opts.Continue == "" {
				return res, items, nil
			}
		}
		if !isGone(lastErr) {
			return nil, nil, lastErr
		}
	}
	return nil, nil, nil
}

// RollbackCommand is the plugin binary's "unquiesce" command: Rollback over the cluster of
// --kubeconfig, else $KUBECONFIG, else the in-cluster configuration. Exit code 0 when every
// workload was unquiesced, 1 when any failed, 2 on a usage error.
func RollbackCommand() action.Command {
	return rollbackCommand(os.Stdout, os.Stderr, dynamicClient)
}

// rollbackCommand is RollbackCommand with its outputs and client constructor given (tests).
func rollbackCommand(stdout, stderr io.Writer, connect func(kubeconfig string) (dynamic.Interface, error)) action.Command {
	return action.Command{Name: CommandName, Usage: usage, Run: func(args []string) int {
		fs := pflag.NewFlagSet(CommandName, pflag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() {
			fmt.Fprintf(stderr, "usage: openshift-migration-plugin %s\n\n"+
				"Undo a migration's quiesce on this cluster: every DeploymentConfig, Deployment, StatefulSet,\n"+
				"ReplicaSet, DaemonSet, CronJob and Job in the namespaces that carries quiesce records gets\n"+
				"its recorded values back and loses the records.\n\n%s", usage, fs.FlagUsages())
		}
		namespaces := fs.StringSliceP("namespace", "n", nil, "namespace to unquiesce (repeat, or comma-separate, for several)")
		kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default $KUBECONFIG, else in-cluster)")
		dryRun := fs.Bool("dry-run", false, "print what would change without writing to the cluster")
		if code, ok := action.ParseCommandArgs(fs, args, stderr); !ok {
			return code
		}
		var nss []string
		for _, ns := range *namespaces {
			if ns = strings.TrimSpace(ns); ns != "" {
				nss = append(nss, ns)
			}
		}
		if len(nss) == 0 {
			fmt.Fprintln(stderr, "no namespace given: --namespace is required")
			fs.Usage()
			return 2
		}
		client, err := connect(*kubeconfig)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", CommandName, err)
			return 1
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := Rollback(ctx, client, nss, *dryRun, stdout); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", CommandName, err)
			return 1
		}
		return 0
	}}
}

// dynamicClient connects through client-go's loading rules: the explicit file, else
// $KUBECONFIG / ~/.kube/config, else the in-cluster configuration.
func dynamicClient(kubeconfig string) (dynamic.Interface, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("no cluster configuration: %w", err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = callTimeout
	}
	cfg.UserAgent = "openshift-migration-plugin-unquiesce"
	return dynamic.NewForConfig(cfg)
}
