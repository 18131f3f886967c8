package deploy_test

// The SAM template, checked against the code without an AWS account: the
// template is parsed (CloudFormation's short tags included), its intrinsic
// functions are evaluated for a given set of parameters, and each property
// is compared with what the code does: the binary built from cmd/server is
// asked for its flags and serves the readiness route, the AWS calls in the
// source name the IAM actions, and DynamoDB Local describes the table the
// store creates.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/policy/s3source"
	"github.com/tollgate-gw/tollgate/internal/testsvc"
	"github.com/tollgate-gw/tollgate/internal/usage/dynamo"
)

const templatePath = "template.yaml"

// Pseudo parameters of the stack the tests evaluate the template in.
var pseudo = map[string]any{
	"AWS::Region":    "us-east-1",
	"AWS::AccountId": "123456789012",
	"AWS::Partition": "aws",
	"AWS::StackName": "tollgate",
	"AWS::URLSuffix": "amazonaws.com",
}

// ---- Parsing: YAML with CloudFormation's short-form tags ----

// parseTemplate reads the template into plain values (maps, slices,
// scalars) in which every short-form tag is its long form: !Sub x becomes
// {"Fn::Sub": x}, !GetAtt A.B becomes {"Fn::GetAtt": ["A", "B"]}.
func parseTemplate(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", templatePath, err)
	}
	v, err := fromNode(&doc)
	if err != nil {
		t.Fatalf("%s: %v", templatePath, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: not a mapping", templatePath)
	}
	return m
}

func fromNode(n *yaml.Node) (any, error) {
	if n.Kind == yaml.DocumentNode {
		return fromNode(n.Content[0])
	}
	if n.Kind == yaml.AliasNode {
		return fromNode(n.Alias)
	}
	if tag := n.Tag; strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") {
		inner := *n
		inner.Tag = ""
		if n.Kind == yaml.ScalarNode {
			inner.Tag = "!!str"
		}
		v, err := fromNode(&inner)
		if err != nil {
			return nil, err
		}
		name := tag[1:]
		switch name {
		case "Ref", "Condition":
		case "GetAtt":
			if s, ok := v.(string); ok {
				res, attr, _ := strings.Cut(s, ".")
				v = []any{res, attr}
			}
			name = "Fn::" + name
		default:
			name = "Fn::" + name
		}
		return map[string]any{name: v}, nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := fromNode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := fromNode(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
}

// ---- Evaluation: the template as CloudFormation would see it ----

// stack is the template evaluated with a set of parameter values.
type stack struct {
	t      *testing.T
	tmpl   map[string]any
	params map[string]any
	pseudo map[string]any // pseudo parameters: the package's, unless a test changes one
}

// noValue is AWS::NoValue: the property or list element is left out.
type noValueType struct{}

var noValue = noValueType{}

// newStack evaluates the template with its parameters' defaults, except
// those in overrides.
func newStack(t *testing.T, overrides map[string]string) *stack {
	t.Helper()
	tmpl := parseTemplate(t)
	s := &stack{t: t, tmpl: tmpl, params: map[string]any{}, pseudo: maps.Clone(pseudo)}
	for name, p := range section(t, tmpl, "Parameters") {
		def := p.(map[string]any)["Default"]
		if def != nil {
			s.params[name] = fmt.Sprint(def)
		}
	}
	for k, v := range overrides {
		if _, ok := section(t, tmpl, "Parameters")[k]; !ok {
			t.Fatalf("no parameter %s", k)
		}
		s.params[k] = v
	}
	return s
}

func section(t *testing.T, tmpl map[string]any, name string) map[string]any {
	t.Helper()
	m, ok := tmpl[name].(map[string]any)
	if !ok {
		t.Fatalf("template has no %s section", name)
	}
	return m
}

// condition evaluates a named condition.
func (s *stack) condition(name string) bool {
	c, ok := section(s.t, s.tmpl, "Conditions")[name]
	if !ok {
		s.t.Fatalf("no condition %s", name)
	}
	b, ok := s.eval(c).(bool)
	if !ok {
		s.t.Fatalf("condition %s is not a boolean", name)
	}
	return b
}

// resource returns a resource's type and evaluated properties, or ok false
// if it does not exist in this stack (no such resource, or its condition is
// false).
func (s *stack) resource(name string) (typ string, props map[string]any, ok bool) {
	r, found := section(s.t, s.tmpl, "Resources")[name].(map[string]any)
	if !found {
		return "", nil, false
	}
	if c, has := r["Condition"].(string); has && !s.condition(c) {
		return "", nil, false
	}
	props, _ = s.eval(r["Properties"]).(map[string]any)
	return r["Type"].(string), props, true
}

// mustResource is resource for one that must exist with type typ.
func (s *stack) mustResource(name, typ string) map[string]any {
	s.t.Helper()
	got, props, ok := s.resource(name)
	if !ok {
		s.t.Fatalf("no resource %s", name)
	}
	if got != typ {
		s.t.Fatalf("resource %s is a %s, want %s", name, got, typ)
	}
	return props
}

// resourcesOfType lists the resources of one type in this stack, sorted.
func (s *stack) resourcesOfType(typ string) []string {
	var names []string
	for name := range section(s.t, s.tmpl, "Resources") {
		if got, _, ok := s.resource(name); ok && got == typ {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// ref is the value the tests give !Ref of a resource; getAtt of !GetAtt,
// except for the attributes in attrs, which the template takes apart.
func ref(resource string) string { return "ref(" + resource + ")" }
func getAtt(resource, attr string) string {
	if v, ok := attrs[resource+"."+attr]; ok {
		return v
	}
	return "getatt(" + resource + "." + attr + ")"
}

var attrs = map[string]string{
	"GatewayUrl.FunctionUrl":  "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws/",
	"Distribution.DomainName": "d111111abcdef8.cloudfront.net",
}

func (s *stack) ref(name string) any {
	if name == "AWS::NoValue" {
		return noValue
	}
	if v, ok := s.pseudo[name]; ok {
		return v
	}
	if v, ok := s.params[name]; ok {
		return v
	}
	if _, ok := section(s.t, s.tmpl, "Resources")[name]; ok {
		return ref(name)
	}
	s.t.Fatalf("!Ref %s: no such parameter or resource", name)
	return nil
}

var subVar = regexp.MustCompile(`\$\{([^}!]+)\}`)

func (s *stack) eval(v any) any {
	switch v := v.(type) {
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			if e := s.eval(e); e != noValue {
				out = append(out, e)
			}
		}
		return out
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				if r, ok := s.intrinsic(k, arg); ok {
					return r
				}
			}
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			if e := s.eval(e); e != noValue {
				out[k] = e
			}
		}
		return out
	default:
		return v
	}
}

func (s *stack) intrinsic(name string, arg any) (any, bool) {
	args, _ := arg.([]any)
	switch name {
	case "Ref":
		return s.ref(arg.(string)), true
	case "Condition":
		return s.condition(arg.(string)), true
	case "Fn::GetAtt":
		return getAtt(args[0].(string), args[1].(string)), true
	case "Fn::If":
		if s.condition(args[0].(string)) {
			return s.eval(args[1]), true
		}
		return s.eval(args[2]), true
	case "Fn::Equals":
		return fmt.Sprint(s.eval(args[0])) == fmt.Sprint(s.eval(args[1])), true
	case "Fn::Not":
		return !s.eval(args[0]).(bool), true
	case "Fn::And", "Fn::Or":
		and := name == "Fn::And"
		for _, a := range args {
			if s.eval(a).(bool) != and {
				return !and, true
			}
		}
		return and, true
	case "Fn::Join":
		var parts []string
		for _, p := range s.eval(args[1]).([]any) {
			parts = append(parts, fmt.Sprint(p))
		}
		return strings.Join(parts, args[0].(string)), true
	case "Fn::Split":
		var out []any
		for _, p := range strings.Split(fmt.Sprint(s.eval(args[1])), args[0].(string)) {
			out = append(out, p)
		}
		return out, true
	case "Fn::Select":
		var i int
		fmt.Sscan(fmt.Sprint(s.eval(args[0])), &i)
		return s.eval(args[1]).([]any)[i], true
	case "Fn::Sub":
		str, vars := "", map[string]any{}
		if a, ok := arg.(string); ok {
			str = a
		} else {
			str = args[0].(string)
			for k, e := range args[1].(map[string]any) {
				vars[k] = s.eval(e)
			}
		}
		return subVar.ReplaceAllStringFunc(str, func(m string) string {
			name := m[2 : len(m)-1]
			if v, ok := vars[name]; ok {
				return fmt.Sprint(v)
			}
			if res, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
				return getAtt(res, attr)
			}
			return fmt.Sprint(s.ref(name))
		}), true
	}
	return nil, false
}

// ---- Helpers on evaluated values ----

func str(t *testing.T, v any, what string) string {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s: %v (%T) is not a string", what, v, v)
	}
	return s
}

// strs flattens a string or a list of strings.
func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

// functionEnv is the gateway function's environment variables.
func (s *stack) functionEnv() map[string]string {
	s.t.Helper()
	fn := s.mustResource("GatewayFunction", "AWS::Serverless::Function")
	vars := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
	env := make(map[string]string, len(vars))
	for k, v := range vars {
		env[k] = fmt.Sprint(v)
	}
	return env
}

// ---- The function ----

func TestTemplateFunction(t *testing.T) {
	tests := []struct {
		name      string
		params    map[string]string
		wantArch  string
		wantLayer string
	}{
		{"default: arm64", nil, "arm64",
			`^arn:aws:lambda:us-east-1:753240598075:layer:LambdaAdapterLayerArm64:[0-9]+$`},
		{"x86_64", map[string]string{"Architecture": "x86_64"}, "x86_64",
			`^arn:aws:lambda:us-east-1:753240598075:layer:LambdaAdapterLayerX86:[0-9]+$`},
		{"a layer ARN given", map[string]string{"WebAdapterLayerArn": "arn:aws-cn:lambda:cn-north-1:041581134020:layer:LambdaAdapterLayerX86:30"}, "arm64",
			`^arn:aws-cn:lambda:cn-north-1:041581134020:layer:LambdaAdapterLayerX86:30$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, tt.params)
			fn := s.mustResource("GatewayFunction", "AWS::Serverless::Function")
			got := map[string]any{"Runtime": fn["Runtime"], "Handler": fn["Handler"], "Architectures": fn["Architectures"]}
			want := map[string]any{"Runtime": "provided.al2023", "Handler": "bootstrap", "Architectures": []any{tt.wantArch}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("function (-want +got):\n%s", diff)
			}
			layers := strs(fn["Layers"])
			if len(layers) != 1 || !regexp.MustCompile(tt.wantLayer).MatchString(layers[0]) {
				t.Errorf("Layers = %q, want one matching %s", layers, tt.wantLayer)
			}
		})
	}

	t.Run("sam build compiles the gateway", func(t *testing.T) {
		raw := section(t, parseTemplate(t), "Resources")["GatewayFunction"].(map[string]any)
		meta, _ := raw["Metadata"].(map[string]any)
		if meta["BuildMethod"] != "go1.x" {
			t.Errorf("Metadata.BuildMethod = %v, want go1.x (SAM's Go builder, output named after the Handler)", meta["BuildMethod"])
		}
		dir := filepath.Join(".", str(t, raw["Properties"].(map[string]any)["CodeUri"], "CodeUri"))
		src, err := os.ReadFile(filepath.Join(dir, "main.go"))
		if err != nil || !strings.Contains(string(src), "package main") {
			t.Errorf("CodeUri %s is not the gateway's main package: %v", dir, err)
		}
		props, _ := meta["BuildProperties"].(map[string]any)
		if props["TrimGoPath"] != true {
			t.Errorf("Metadata.BuildProperties.TrimGoPath = %v, want true (make lambda builds with -trimpath)", props["TrimGoPath"])
		}
	})

	// SAM's Go builder runs `go build [-trimpath] -o bootstrap CodeUri` with
	// GOOS and GOARCH set and the rest of the environment passed on; `make
	// sam-build` must hand it, through that environment, the flags with
	// which `make lambda` builds.
	t.Run("make sam-build has make lambda's flags", func(t *testing.T) {
		if _, err := exec.LookPath("make"); err != nil {
			t.Skip("no make")
		}
		bin := t.TempDir()
		record := filepath.Join(bin, "sam.env")
		fake := "#!/bin/sh\nprintf '%s\\n' \"CGO_ENABLED=$CGO_ENABLED\" \"GOFLAGS=$GOFLAGS\" \"ARGS=$*\" > " + record + "\n"
		if err := os.WriteFile(filepath.Join(bin, "sam"), []byte(fake), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("make", "-s", "-C", "..", "sam-build", "VERSION=v-test")
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make sam-build: %v\n%s", err, out)
		}
		b, err := os.ReadFile(record)
		if err != nil {
			t.Fatal(err)
		}
		samEnv := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			k, v, _ := strings.Cut(line, "=")
			samEnv[k] = v
		}
		if !strings.Contains(samEnv["ARGS"], "build -t deploy/template.yaml") {
			t.Errorf("make sam-build ran sam %q, want build -t deploy/template.yaml", samEnv["ARGS"])
		}
		got := goBuildFlags(t, splitQuoted(t, samEnv["GOFLAGS"]))
		got["CGO_ENABLED"] = samEnv["CGO_ENABLED"]
		got["-trimpath"] = "true" // TrimGoPath, checked above

		out, err := exec.Command("make", "-n", "-s", "-C", "..", "lambda-arm64", "VERSION=v-test").Output()
		if err != nil {
			t.Fatalf("make -n lambda-arm64: %v", err)
		}
		var build []string
		for _, line := range strings.Split(string(out), "\n") {
			if words := splitQuoted(t, line); slices.Contains(words, "build") && slices.Contains(words, "./cmd/server") {
				build = words
			}
		}
		if build == nil {
			t.Fatalf("make -n lambda-arm64 runs no go build of ./cmd/server:\n%s", out)
		}
		want := goBuildFlags(t, build)
		for _, w := range build {
			if v, ok := strings.CutPrefix(w, "CGO_ENABLED="); ok {
				want["CGO_ENABLED"] = v
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("make sam-build's flags differ from make lambda's (-lambda +sam-build):\n%s", diff)
		}
	})

	t.Run("memory and timeout", func(t *testing.T) {
		s := newStack(t, nil)
		fn := s.mustResource("GatewayFunction", "AWS::Serverless::Function")
		if fn["MemorySize"] != s.params["MemorySize"] || fn["Timeout"] != s.params["Timeout"] {
			t.Errorf("MemorySize %v, Timeout %v: want the parameters", fn["MemorySize"], fn["Timeout"])
		}
		// The function must outlive the longest Bedrock call, or Lambda cuts
		// off the invocation before it settles what it spent.
		upstream, err := time.ParseDuration(s.params["UpstreamTimeout"].(string))
		if err != nil {
			t.Fatal(err)
		}
		var timeout int
		fmt.Sscan(s.params["Timeout"].(string), &timeout)
		if time.Duration(timeout)*time.Second <= upstream {
			t.Errorf("default Timeout %ds is not longer than the default UpstreamTimeout %v", timeout, upstream)
		}
		if s.functionEnv()["TOLLGATE_UPSTREAM_TIMEOUT"] != s.params["UpstreamTimeout"] {
			t.Error("TOLLGATE_UPSTREAM_TIMEOUT is not the UpstreamTimeout parameter")
		}
	})

	// The parameter's description and the deploy guide quote the same
	// measurements (make bench-lambda), and the same price of 256 MB.
	t.Run("memory figures agree with docs/deploy.md", func(t *testing.T) {
		param := section(t, parseTemplate(t), "Parameters")["MemorySize"].(map[string]any)
		desc := str(t, param["Description"], "MemorySize.Description")
		doc, err := os.ReadFile("../docs/deploy.md")
		if err != nil {
			t.Fatal(err)
		}
		docText := strings.Join(strings.Fields(string(doc)), " ")
		figures := regexp.MustCompile(`[0-9][0-9.,]* MiB|\$[0-9.]+ more per [0-9,]+ five-second requests`).FindAllString(desc, -1)
		if len(figures) < 4 {
			t.Fatalf("MemorySize's description quotes %q: want its RSS figures and the price of 256 MB", figures)
		}
		for _, f := range figures {
			if !strings.Contains(docText, f) {
				t.Errorf("MemorySize's description says %q; docs/deploy.md does not", f)
			}
		}
	})
}

// ---- Streaming on both sides, and the Function URL's access ----

func TestTemplateStreamingFunctionURL(t *testing.T) {
	for _, auth := range []string{"NONE", "AWS_IAM"} {
		t.Run(auth, func(t *testing.T) {
			s := newStack(t, map[string]string{"FunctionUrlAuthType": auth})
			if got := s.functionEnv()["AWS_LWA_INVOKE_MODE"]; got != "response_stream" {
				t.Errorf("AWS_LWA_INVOKE_MODE = %q, want response_stream (the adapter buffers otherwise)", got)
			}
			urls := s.resourcesOfType("AWS::Lambda::Url")
			if len(urls) != 1 {
				t.Fatalf("Function URLs: %v, want one", urls)
			}
			u := s.mustResource(urls[0], "AWS::Lambda::Url")
			want := map[string]any{"TargetFunctionArn": getAtt("GatewayFunction", "Arn"), "AuthType": auth, "InvokeMode": "RESPONSE_STREAM"}
			if diff := cmp.Diff(want, u); diff != "" {
				t.Errorf("%s (-want +got):\n%s", urls[0], diff)
			}

			var perms []map[string]any
			for _, name := range s.resourcesOfType("AWS::Lambda::Permission") {
				perms = append(perms, s.mustResource(name, "AWS::Lambda::Permission"))
			}
			var wantPerms []map[string]any
			if auth == "NONE" {
				wantPerms = []map[string]any{
					{"FunctionName": ref("GatewayFunction"), "Action": "lambda:InvokeFunctionUrl", "Principal": "*", "FunctionUrlAuthType": "NONE"},
					{"FunctionName": ref("GatewayFunction"), "Action": "lambda:InvokeFunction", "Principal": "*", "InvokedViaFunctionUrl": true},
				}
			}
			sortPerms := cmp.Transformer("sort", func(in []map[string]any) []map[string]any {
				out := slices.Clone(in)
				sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
				return out
			})
			if diff := cmp.Diff(wantPerms, perms, sortPerms); diff != "" {
				t.Errorf("permissions (-want +got):\n%s", diff)
			}
		})
	}
}

// ---- The binary: flags, port, readiness route, log lines ----

var built struct {
	once sync.Once
	path string
	err  error
}

// gatewayBinary builds cmd/server once per test binary, as `make lambda`
// does but for this machine.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "tollgate-deploy-test")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "bootstrap")
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-trimpath", "-tags", "nomsgpack", "-o", built.path, "../cmd/server")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// splitQuoted splits s at spaces outside single or double quotes, as the
// shell and GOFLAGS do, and drops the quotes.
func splitQuoted(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	var quote rune
	in := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", s)
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// goBuildFlags picks -trimpath, -tags and -ldflags out of go build's
// arguments, in either form (-tags x or -tags=x).
func goBuildFlags(t *testing.T, args []string) map[string]string {
	t.Helper()
	flags := map[string]string{}
	for i := 0; i < len(args); i++ {
		name, value, eq := strings.Cut(args[i], "=")
		switch name {
		case "-trimpath":
			flags[name] = "true"
		case "-tags", "-ldflags":
			if !eq {
				if i+1 == len(args) {
					t.Fatalf("%s without a value in %q", name, args)
				}
				i++
				value = args[i]
			}
			flags[name] = value
		}
	}
	return flags
}

// lambdaEnv is the environment Lambda gives the function: the template's
// variables and Lambda's own, with credentials that reach nothing.
func lambdaEnv(s *stack) []string {
	env := []string{
		"AWS_LAMBDA_FUNCTION_NAME=tollgate-GatewayFunction",
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true",
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
	}
	for k, v := range s.functionEnv() {
		env = append(env, k+"="+v)
	}
	return env
}

var envInHelp = regexp.MustCompile(`env (TOLLGATE_[A-Z0-9_]+)`)

// TestTemplateEnvNamesRealFlags asks the binary, with the function's
// environment, for its flags: every TOLLGATE_* variable must be one a flag
// reads, and the listen address must be the adapter's port.
func TestTemplateEnvNamesRealFlags(t *testing.T) {
	s := newStack(t, alertParams)
	cmd := exec.Command(gatewayBinary(t), "serve", "-h")
	cmd.Env = lambdaEnv(s)
	out, _ := cmd.CombinedOutput() // -h exits non-zero after the usage
	help := string(out)

	known := map[string]bool{}
	for _, m := range envInHelp.FindAllStringSubmatch(help, -1) {
		known[m[1]] = true
	}
	if len(known) < 10 {
		t.Fatalf("found only %d env variables in `serve -h`:\n%s", len(known), help)
	}
	// Secrets are read from the environment only, never from a flag (which
	// ps would show): the server's code must read them by name.
	for _, name := range envOnly {
		if !readsEnv(t, name) {
			t.Errorf("%s: cmd/server does not read it", name)
		}
		known[name] = true
	}
	env := s.functionEnv()
	for k := range env {
		if strings.HasPrefix(k, "TOLLGATE_") && !known[k] {
			t.Errorf("%s is no flag's environment variable (serve -h names %v)", k, slices.Sorted(func(yield func(string) bool) {
				for k := range known {
					if !yield(k) {
						return
					}
				}
			}))
		}
	}

	port := env["AWS_LWA_PORT"]
	if port == "" {
		t.Fatal("AWS_LWA_PORT is not set: the adapter would expect 8080 and the template would rely on defaults agreeing")
	}
	if p := env["AWS_LWA_READINESS_CHECK_PORT"]; p != "" && p != port {
		t.Errorf("AWS_LWA_READINESS_CHECK_PORT %s differs from AWS_LWA_PORT %s", p, port)
	}
	wantAddr := fmt.Sprintf(`-addr string\n[^\n]*\(default ":%s"\)`, regexp.QuoteMeta(port))
	if !regexp.MustCompile(wantAddr).MatchString(help) {
		t.Errorf("with the function's environment, -addr does not default to :%s:\n%s", port, help)
	}
	if !regexp.MustCompile(`-emf\n[^\n]*\(default true\)`).MatchString(help) {
		t.Errorf("EMF is not on with the function's environment:\n%s", help)
	}
}

// envOnly are the variables the gateway reads with no flag: secrets.
var envOnly = []string{"TOLLGATE_ALERT_WEBHOOK_SECRET"}

// readsEnv reports whether cmd/server's code (tests excluded) reads the
// environment variable name with getenv.
func readsEnv(t *testing.T, name string) bool {
	t.Helper()
	files, err := filepath.Glob("../cmd/server/*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), `getenv("`+name+`")`) {
			return true
		}
	}
	return false
}

// TestTemplateAlerts: the alert parameters, empty by default, grant
// nothing and set nothing; each one set grants its destination alone, and
// the webhook secret reaches the variable the gateway reads, resolved from
// Secrets Manager at deploy. The parameters' patterns take what the policy
// accepts and the grants name.
func TestTemplateAlerts(t *testing.T) {
	alertActions := func(s *stack) []string {
		var out []string
		for _, st := range s.roleStatements() {
			for _, a := range st.Actions {
				if strings.HasPrefix(a, "sns:") || strings.HasPrefix(a, "events:") {
					out = append(out, a)
				}
			}
		}
		return out
	}
	for _, tt := range []struct {
		name       string
		params     map[string]string
		actions    []string
		secret     string
		secretsSet bool
	}{
		{"defaults", nil, nil, "", false},
		{"topic only", map[string]string{"AlertTopicArn": alertParams["AlertTopicArn"]}, []string{"sns:Publish"}, "", false},
		{"bus only", map[string]string{"AlertEventBusName": "default"}, []string{"events:PutEvents"}, "", false},
		{"all", alertParams, []string{"sns:Publish", "events:PutEvents"}, "{{resolve:secretsmanager:tollgate/alert-webhook}}", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, tt.params)
			if diff := cmp.Diff(tt.actions, alertActions(s)); diff != "" {
				t.Errorf("alert actions granted (-want +got):\n%s", diff)
			}
			v, ok := s.functionEnv()["TOLLGATE_ALERT_WEBHOOK_SECRET"]
			if ok != tt.secretsSet || v != tt.secret {
				t.Errorf("TOLLGATE_ALERT_WEBHOOK_SECRET = %q (set %v), want %q (set %v)", v, ok, tt.secret, tt.secretsSet)
			}
		})
	}

	// A topic the policy accepts (alerts.sns.topic_arn) is one the
	// parameter accepts, and the default bus is grantable by name.
	params := section(t, parseTemplate(t), "Parameters")
	pattern := func(name string) *regexp.Regexp {
		return regexp.MustCompile(params[name].(map[string]any)["AllowedPattern"].(string))
	}
	for _, c := range []struct {
		param, value string
		ok           bool
	}{
		{"AlertTopicArn", "", true},
		{"AlertTopicArn", "arn:aws:sns:eu-west-1:123456789012:budget-alerts", true},
		{"AlertTopicArn", "arn:aws:sns:eu-west-1:123456789012:alerts.fifo", true},
		{"AlertTopicArn", "arn:aws-us-gov:sns:us-gov-west-1:123456789012:a", true},
		{"AlertTopicArn", "arn:aws:sqs:eu-west-1:123456789012:budget-alerts", false},
		{"AlertTopicArn", "budget-alerts", false},
		{"AlertEventBusName", "", true},
		{"AlertEventBusName", "default", true},
		{"AlertEventBusName", "ops-bus.prod", true},
		{"AlertEventBusName", "arn:aws:events:us-east-1:123456789012:event-bus/ops", false},
	} {
		if got := pattern(c.param).MatchString(c.value); got != c.ok {
			t.Errorf("%s %q accepted = %v, want %v", c.param, c.value, got, c.ok)
		}
	}
	p, err := policy.Parse(map[string][]byte{"policy.yaml": []byte(`alerts:
  sns: {topic_arn: "` + alertParams["AlertTopicArn"] + `"}
  eventbridge: {event_bus: ` + alertParams["AlertEventBusName"] + `}
`)})
	if err != nil {
		t.Fatal(err)
	}
	d := p.AlertDestinations()
	if !pattern("AlertTopicArn").MatchString(d.SNS.TopicARN) || !pattern("AlertEventBusName").MatchString(d.EventBridge.EventBus) {
		t.Errorf("the policy's destinations %+v %+v do not fit the parameters", d.SNS, d.EventBridge)
	}
}

// process is the built gateway running as a child process.
type process struct {
	cmd    *exec.Cmd
	base   string // http://ADDR
	mu     sync.Mutex
	stdout []string
	stderr []string
}

// startGateway runs the built binary with env and waits for its listening
// line. It stops it with SIGTERM when the test ends.
func startGateway(t *testing.T, env []string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(gatewayBinary(t), "serve")}
	p.cmd.Env = env
	outPipe, _ := p.cmd.StdoutPipe()
	errPipe, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	addr := make(chan string, 1)
	collect := func(r io.Reader, lines *[]string) {
		defer wg.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				addr <- rec.Addr
			}
			p.mu.Lock()
			*lines = append(*lines, sc.Text())
			p.mu.Unlock()
		}
	}
	wg.Add(2)
	go collect(outPipe, &p.stdout)
	go collect(errPipe, &p.stderr)
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		timer := time.AfterFunc(10*time.Second, func() { _ = p.cmd.Process.Kill() })
		wg.Wait()
		_ = p.cmd.Wait()
		timer.Stop()
	})
	select {
	case a := <-addr:
		p.base = "http://" + a
	case <-time.After(15 * time.Second):
		t.Fatalf("no listening line; stderr:\n%s", strings.Join(p.lines(&p.stderr), "\n"))
	}
	return p
}

func (p *process) lines(which *[]string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(*which)
}

func (p *process) get(t *testing.T, path string) int {
	t.Helper()
	resp, err := http.Get(p.base + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (p *process) post(t *testing.T, secret, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestTemplateAgainstTheRunningGateway starts the binary with the
// function's environment (on the built-in simulator, with a local policy
// and store in place of S3 and DynamoDB) and checks that the readiness path
// is a route that answers 200, and that the alarms' metric filters match
// the lines the gateway writes for a budget rejection and a Bedrock error.
func TestTemplateAgainstTheRunningGateway(t *testing.T) {
	s := newStack(t, nil)
	dir := t.TempDir()
	const secret = "sk-deploy-test-capped"
	pol := fmt.Sprintf("keys:\n  - id: capped\n    sha256: %q\n    monthly_budget_usd: 0.000001\n", policy.HashSecret(secret))
	if err := os.WriteFile(filepath.Join(dir, "keys.yaml"), []byte(pol), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(lambdaEnv(s),
		"TOLLGATE_ADDR=127.0.0.1:0", "TOLLGATE_SIM=1", "TOLLGATE_POLICIES="+dir,
		"TOLLGATE_STORE=memory://", "TOLLGATE_ALLOW_LOCAL_STORE=1")
	p := startGateway(t, env)

	path := s.functionEnv()["AWS_LWA_READINESS_CHECK_PATH"]
	if got := p.get(t, path); got != http.StatusOK {
		t.Errorf("GET %s (AWS_LWA_READINESS_CHECK_PATH) = %d, want 200", path, got)
	}
	// The adapter counts 100-499 as ready unless told otherwise: the
	// template narrows it, so that only the real route passes.
	if got := p.get(t, path+"-not-a-route"); got < 300 {
		t.Errorf("GET of a path that is no route = %d: a wrong readiness path would pass", got)
	}
	healthy := s.functionEnv()["AWS_LWA_READINESS_CHECK_HEALTHY_STATUS"]
	if healthy != "200-299" {
		t.Errorf("AWS_LWA_READINESS_CHECK_HEALTHY_STATUS = %q, want 200-299", healthy)
	}

	chat := func(prompt string) string {
		return `{"model":"anthropic.claude-3-haiku-20240307-v1:0","max_tokens":100,"messages":[{"role":"user","content":"` + prompt + `"}]}`
	}
	if got := p.post(t, secret, chat("hello")); got != http.StatusTooManyRequests && got != http.StatusPaymentRequired && got != http.StatusForbidden {
		t.Logf("capped key: status %d", got)
	}
	if got := p.post(t, "sk-tollgate-demo", chat("[sim:error=ThrottlingException]")); got < 400 {
		t.Errorf("simulated throttling: status %d, want an error", got)
	}

	// Every line the function writes reaches its log group.
	time.Sleep(100 * time.Millisecond) // let the collectors read the last lines
	lines := append(p.lines(&p.stdout), p.lines(&p.stderr)...)
	for _, tt := range []struct{ filter, metric string }{
		{"BudgetRejectionsFilter", "BudgetRejections"},
		{"UpstreamErrorsFilter", "UpstreamErrors"},
	} {
		f := s.mustResource(tt.filter, "AWS::Logs::MetricFilter")
		if f["LogGroupName"] != ref("GatewayLogGroup") {
			t.Errorf("%s watches %v, not the function's log group", tt.filter, f["LogGroupName"])
		}
		pattern := str(t, f["FilterPattern"], tt.filter)
		n := 0
		for _, line := range lines {
			if matchFilter(t, pattern, line) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s %s matched %d lines, want 1; lines:\n%s", tt.filter, pattern, n, strings.Join(lines, "\n"))
		}
		mt := f["MetricTransformations"].([]any)[0].(map[string]any)
		if mt["MetricName"] != tt.metric || mt["MetricNamespace"] != "Tollgate" {
			t.Errorf("%s makes %v/%v, want Tollgate/%s", tt.filter, mt["MetricNamespace"], mt["MetricName"], tt.metric)
		}
	}
}

var filterTerm = regexp.MustCompile(`^\$\.([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"$`)

// matchFilter evaluates the subset of CloudWatch Logs' JSON filter pattern
// syntax the template uses, { $.a = "x" && $.b = "y" }, where "*" alone
// matches any string, against one log line.
func matchFilter(t *testing.T, pattern, line string) bool {
	t.Helper()
	body, ok := strings.CutPrefix(strings.TrimSpace(pattern), "{")
	body, ok2 := strings.CutSuffix(body, "}")
	if !ok || !ok2 {
		t.Fatalf("filter pattern %q is not a JSON pattern", pattern)
	}
	var rec map[string]any
	if json.Unmarshal([]byte(line), &rec) != nil {
		return false
	}
	for _, term := range strings.Split(body, "&&") {
		m := filterTerm.FindStringSubmatch(strings.TrimSpace(term))
		if m == nil {
			t.Fatalf("filter term %q is outside the subset this test evaluates", term)
		}
		v, ok := rec[m[1]].(string)
		if !ok || (m[2] != "*" && v != m[2]) || v == "" {
			return false
		}
	}
	return true
}

// ---- IAM: the actions of the AWS calls in the code, on their resources ----

// apiActions maps each AWS API the gateway calls to the IAM actions it
// needs. A call missing here fails the test: add its actions to the
// template's role, then here.
var apiActions = map[string][]string{
	// Bedrock: Converse and ConverseStream are authorized as the invoke
	// actions.
	"bedrock:Converse":                      {"bedrock:InvokeModel"},
	"bedrock:ConverseStream":                {"bedrock:InvokeModelWithResponseStream"},
	"bedrock:InvokeModel":                   {"bedrock:InvokeModel"},
	"bedrock:InvokeModelWithResponseStream": {"bedrock:InvokeModelWithResponseStream"},
	"bedrock:CountTokens":                   {"bedrock:CountTokens"},
	"bedrock:ListFoundationModels":          {"bedrock:ListFoundationModels"},
	"bedrock:ListInferenceProfiles":         {"bedrock:ListInferenceProfiles"},
	// DynamoDB: TransactWriteItems has no action of its own; each of its
	// items is authorized as the single-item operation.
	"dynamodb:BatchGetItem":   {"dynamodb:BatchGetItem"},
	"dynamodb:Query":          {"dynamodb:Query"},
	"dynamodb:GetItem":        {"dynamodb:GetItem"},
	"dynamodb:PutItem":        {"dynamodb:PutItem"},
	"dynamodb:Update":         {"dynamodb:UpdateItem"},
	"dynamodb:Put":            {"dynamodb:PutItem"},
	"dynamodb:Delete":         {"dynamodb:DeleteItem"},
	"dynamodb:ConditionCheck": {"dynamodb:ConditionCheckItem"},
	// S3: ListObjectsV2 is authorized as ListBucket.
	"s3:ListObjectsV2": {"s3:ListBucket"},
	"s3:GetObject":     {"s3:GetObject"},
	// Budget alerts (internal/alert): granted only for the destinations
	// the stack's parameters name (alertParams).
	"sns:Publish":      {"sns:Publish"},
	"events:PutEvents": {"events:PutEvents"},
}

// alertParams name both alert destinations, so that the role grants their
// calls, and a webhook secret.
var alertParams = map[string]string{
	"AlertTopicArn":         "arn:aws:sns:us-east-1:123456789012:budget-alerts",
	"AlertEventBusName":     "ops",
	"AlertWebhookSecretArn": "tollgate/alert-webhook",
}

// storeInitOnly are the DynamoDB calls that only `tollgate store init`
// makes, with the operator's credentials: the function never creates the
// table.
var storeInitOnly = map[string]bool{"CreateTable": true, "DescribeTable": true, "TableExists": true, "DescribeTimeToLive": true, "UpdateTimeToLive": true}

// callsIn finds the AWS API calls in the Go files of dir (tests excluded):
// client method calls and paginators, and, for DynamoDB, the kinds of
// transaction items.
func callsIn(t *testing.T, dir, service string, client *regexp.Regexp) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	paginator := regexp.MustCompile(`\.New(\w+)(?:Paginator|Waiter)\(`)
	txItem := regexp.MustCompile(`&types\.(Update|Put|Delete|ConditionCheck)\{`)
	set := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		for _, re := range []*regexp.Regexp{client, paginator} {
			for _, m := range re.FindAllStringSubmatch(src, -1) {
				op := m[len(m)-1]
				if service == "dynamodb" && (storeInitOnly[op] || op == "TransactWriteItems") {
					continue
				}
				set[service+":"+op] = true
			}
		}
		if service == "dynamodb" {
			for _, m := range txItem.FindAllStringSubmatch(src, -1) {
				set[service+":"+m[1]] = true
			}
		}
	}
	return slices.Sorted(func(yield func(string) bool) {
		for k := range set {
			if !yield(k) {
				return
			}
		}
	})
}

// statement is an IAM statement, normalized for comparison.
type statement struct {
	Actions   []string
	Resources []string
	Condition map[string]any
}

func (s *stack) roleStatements() []statement {
	s.t.Helper()
	role := s.mustResource("GatewayRole", "AWS::IAM::Role")
	var out []statement
	for _, p := range role["Policies"].([]any) {
		doc := p.(map[string]any)["PolicyDocument"].(map[string]any)
		for _, st := range doc["Statement"].([]any) {
			m := st.(map[string]any)
			if m["Effect"] != "Allow" {
				s.t.Errorf("statement %v is not an Allow", m)
			}
			a, r := strs(m["Action"]), strs(m["Resource"])
			sort.Strings(a)
			sort.Strings(r)
			c, _ := m["Condition"].(map[string]any)
			out = append(out, statement{Actions: a, Resources: r, Condition: c})
		}
	}
	return out
}

func TestTemplateIAMFollowsTheCode(t *testing.T) {
	code := map[string][]string{
		"bedrock":  callsIn(t, "../internal/upstream", "bedrock", regexp.MustCompile(`\.(?:runtime|control)\.(\w+)\(`)),
		"dynamodb": callsIn(t, "../internal/usage/dynamo", "dynamodb", regexp.MustCompile(`\.client\.(\w+)\(`)),
		"s3":       callsIn(t, "../internal/policy/s3source", "s3", regexp.MustCompile(`client\.(\w+)\(`)),
		"sns":      callsIn(t, "../internal/alert", "sns", regexp.MustCompile(`\.opts\.SNS\.(\w+)\(`)),
		"events":   callsIn(t, "../internal/alert", "events", regexp.MustCompile(`\.opts\.EventBridge\.(\w+)\(`)),
	}
	if len(code["sns"]) == 0 || len(code["events"]) == 0 {
		t.Fatalf("no SNS or EventBridge call found in internal/alert: %v", code)
	}
	s := newStack(t, alertParams)
	granted := map[string]map[string]bool{}
	for _, st := range s.roleStatements() {
		for _, a := range st.Actions {
			svc, _, _ := strings.Cut(a, ":")
			if granted[svc] == nil {
				granted[svc] = map[string]bool{}
			}
			granted[svc][a] = true
		}
	}
	for svc, calls := range code {
		need := map[string]bool{}
		for _, c := range calls {
			actions, ok := apiActions[c]
			if !ok {
				t.Errorf("the code calls %s, which apiActions does not map to IAM actions: grant them in template.yaml and add it", c)
			}
			for _, a := range actions {
				need[a] = true
			}
		}
		if diff := cmp.Diff(need, granted[svc]); diff != "" {
			t.Errorf("%s actions: the code calls %v; (-needed +granted):\n%s", svc, calls, diff)
		}
	}
}

func TestTemplateIAMResources(t *testing.T) {
	for _, tt := range []struct {
		name   string
		params map[string]string
		bucket string

		alerts []statement // granted after the others
	}{
		{"bucket created", nil, ref("PolicyBucket"), nil},
		{"existing bucket", map[string]string{"PolicyBucketName": "acme-policies", "PolicyPrefix": "gw/prod/"}, "acme-policies", nil},
		{"alert destinations", alertParams, ref("PolicyBucket"), []statement{
			{Actions: []string{"sns:Publish"}, Resources: []string{"arn:aws:sns:us-east-1:123456789012:budget-alerts"}},
			{Actions: []string{"events:PutEvents"}, Resources: []string{"arn:aws:events:us-east-1:123456789012:event-bus/ops"}},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, tt.params)
			prefix := s.params["PolicyPrefix"].(string)
			want := []statement{
				{Actions: []string{"bedrock:CountTokens", "bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}, Resources: []string{
					"arn:aws:bedrock:*::foundation-model/*",
					"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/*",
					"arn:aws:bedrock:us-east-1:123456789012:inference-profile/*",
				}},
				{Actions: []string{"bedrock:ListFoundationModels", "bedrock:ListInferenceProfiles"}, Resources: []string{"*"}},
				{Actions: []string{"dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"},
					Resources: []string{getAtt("UsageTable", "Arn")}},
				{Actions: []string{"s3:GetObject"}, Resources: []string{"arn:aws:s3:::" + tt.bucket + "/" + prefix + "*"}},
				{Actions: []string{"s3:ListBucket"}, Resources: []string{"arn:aws:s3:::" + tt.bucket},
					Condition: map[string]any{"StringLike": map[string]any{"s3:prefix": prefix + "*"}}},
				{Actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resources: []string{getAtt("GatewayLogGroup", "Arn")}},
			}
			want = append(want, tt.alerts...)
			got := s.roleStatements()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("role statements (-want +got):\n%s", diff)
			}
			for _, st := range got {
				for _, a := range st.Actions {
					if strings.Contains(a, "*") {
						t.Errorf("wildcard action %s", a)
					}
				}
				if slices.Contains(st.Resources, "*") && !slices.Equal(st.Actions, []string{"bedrock:ListFoundationModels", "bedrock:ListInferenceProfiles"}) {
					t.Errorf("resource \"*\" for %v: only the list actions, which take no resource, may have it", st.Actions)
				}
			}

			// The policy location the gateway reads is the one the role may read.
			loc := s.functionEnv()["TOLLGATE_POLICIES"]
			b, p, ok := s3source.ParseURL(loc)
			if !ok || b != tt.bucket || p != prefix {
				t.Errorf("TOLLGATE_POLICIES = %q: bucket %q prefix %q, want %q and %q", loc, b, p, tt.bucket, prefix)
			}
		})
	}
}

// ---- The usage table: the schema the store creates ----

func TestTemplateTableMatchesTheStore(t *testing.T) {
	s := newStack(t, nil)
	if got, want := s.functionEnv()["TOLLGATE_STORE"], "dynamodb://"+ref("UsageTable"); got != want {
		t.Errorf("TOLLGATE_STORE = %q, want %q", got, want)
	}
	table := s.mustResource("UsageTable", "AWS::DynamoDB::Table")

	// What the store creates, read back from DynamoDB Local.
	client := testsvc.DynamoDBClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := fmt.Sprintf("deploy-test-%d", time.Now().UnixNano())
	if err := dynamo.Open(client, name).CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	desc, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	var attrs, keys []any
	for _, a := range desc.Table.AttributeDefinitions {
		attrs = append(attrs, map[string]any{"AttributeName": aws.ToString(a.AttributeName), "AttributeType": string(a.AttributeType)})
	}
	for _, k := range desc.Table.KeySchema {
		keys = append(keys, map[string]any{"AttributeName": aws.ToString(k.AttributeName), "KeyType": string(k.KeyType)})
	}
	want := map[string]any{
		"BillingMode":          string(desc.Table.BillingModeSummary.BillingMode),
		"AttributeDefinitions": attrs,
		"KeySchema":            keys,
		"TimeToLiveSpecification": map[string]any{
			"AttributeName": aws.ToString(ttl.TimeToLiveDescription.AttributeName), "Enabled": true,
		},
	}
	if diff := cmp.Diff(want, table); diff != "" {
		t.Errorf("UsageTable (-as the store creates it +template):\n%s", diff)
	}
}

// ---- Metrics: EMF on, the dashboard, the alarms ----

func TestTemplateMetering(t *testing.T) {
	s := newStack(t, nil)
	if v := s.functionEnv()["TOLLGATE_EMF"]; v != "1" && v != "true" {
		t.Errorf("TOLLGATE_EMF = %q, want on", v)
	}

	d := s.mustResource("Dashboard", "AWS::CloudWatch::Dashboard")
	var got, want any
	if err := json.Unmarshal([]byte(str(t, d["DashboardBody"], "DashboardBody")), &got); err != nil {
		t.Fatalf("DashboardBody is not JSON: %v", err)
	}
	b, err := os.ReadFile("dashboards/cloudwatch.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DashboardBody differs from dashboards/cloudwatch.json in us-east-1 (-file +template):\n%s", diff)
	}

	filters := map[string]bool{}
	for _, name := range s.resourcesOfType("AWS::Logs::MetricFilter") {
		f := s.mustResource(name, "AWS::Logs::MetricFilter")
		for _, mt := range f["MetricTransformations"].([]any) {
			m := mt.(map[string]any)
			filters[fmt.Sprint(m["MetricNamespace"], "/", m["MetricName"])] = true
		}
	}
	var alarmed []string
	for _, name := range s.resourcesOfType("AWS::CloudWatch::Alarm") {
		a := s.mustResource(name, "AWS::CloudWatch::Alarm")
		metric := fmt.Sprint(a["Namespace"], "/", a["MetricName"])
		if !filters[metric] {
			t.Errorf("alarm %s watches %s, which no metric filter of the stack produces", name, metric)
		}
		alarmed = append(alarmed, metric)
	}
	sort.Strings(alarmed)
	if diff := cmp.Diff([]string{"Tollgate/BudgetRejections", "Tollgate/UpstreamErrors"}, alarmed); diff != "" {
		t.Errorf("alarms (-want +got):\n%s", diff)
	}
}

// ---- Outputs ----

func TestTemplateOutputs(t *testing.T) {
	s := newStack(t, nil)
	outputs := section(t, s.tmpl, "Outputs")
	want := map[string]string{
		"FunctionUrl":   getAtt("GatewayUrl", "FunctionUrl"),
		"UsageTable":    ref("UsageTable"),
		"PolicyBucket":  ref("PolicyBucket"),
		"DashboardName": ref("Dashboard"), // Ref of a dashboard is its name
	}
	for name, w := range want {
		o, ok := outputs[name].(map[string]any)
		if !ok {
			t.Errorf("no output %s", name)
			continue
		}
		if got := s.eval(o["Value"]); got != w {
			t.Errorf("output %s = %v, want %s", name, got, w)
		}
	}
}
