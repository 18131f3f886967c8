package deploy_test

// The front door (FrontDoor=cloudfront) and provisioned concurrency, for
// each value of their parameters: the resources, conditions, rules and
// outputs, the origin secret both sides resolve, and the built gateway
// given the function's environment, which must let CloudFront's requests
// through and refuse the others. Then cfn-lint, when it is installed.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/api"
)

// CloudFront's managed policies (their ids are the same in every account).
const (
	cachingDisabled           = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
	allViewerExceptHostHeader = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
)

const (
	versionNew = "a1b2c3d4-5678-90ab-cdef-111111111111"
	versionOld = "a1b2c3d4-5678-90ab-cdef-000000000000"
	webACL     = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/shared/0123abcd-0000-0000-0000-000000000000"
	cert       = "arn:aws:acm:us-east-1:123456789012:certificate/0123abcd-0000-0000-0000-000000000000"
)

// secretRef is the dynamic reference to the stack's origin secret, of one
// version or of the current one.
func secretRef(version string) string {
	if version == "" {
		return "{{resolve:secretsmanager:" + ref("OriginSecret") + "}}"
	}
	return "{{resolve:secretsmanager:" + ref("OriginSecret") + ":SecretString:::" + version + "}}"
}

// rules evaluates the template's Rules and returns the descriptions of the
// assertions that fail, as CloudFormation would refuse the parameters.
func (s *stack) rules() []string {
	s.t.Helper()
	var failed []string
	for name, r := range section(s.t, s.tmpl, "Rules") {
		r := r.(map[string]any)
		if c, ok := r["RuleCondition"]; ok && !s.eval(c).(bool) {
			continue
		}
		for _, a := range r["Assertions"].([]any) {
			a := a.(map[string]any)
			if !s.eval(a["Assert"]).(bool) {
				failed = append(failed, name+": "+str(s.t, a["AssertDescription"], name))
			}
		}
	}
	slices.Sort(failed)
	return failed
}

// output is an output's evaluated value, or ok false if its condition
// leaves it out.
func (s *stack) output(name string) (any, bool) {
	s.t.Helper()
	o, found := section(s.t, s.tmpl, "Outputs")[name].(map[string]any)
	if !found {
		s.t.Fatalf("no output %s", name)
	}
	if c, has := o["Condition"].(string); has && !s.condition(c) {
		return nil, false
	}
	return s.eval(o["Value"]), true
}

// dependsOn lists a resource's DependsOn.
func (s *stack) dependsOn(name string) []string {
	r := section(s.t, s.tmpl, "Resources")[name].(map[string]any)
	return strs(r["DependsOn"])
}

func TestTemplateFrontDoor(t *testing.T) {
	type want struct {
		aliases     []any  // the distribution's; nil for none
		certificate any    // ViewerCertificate
		webACL      any    // WebACLId; nil for none
		rateLimit   string // the web ACL's, "" for no web ACL made
		header      string // X-Tollgate-Origin as CloudFront sends it
		env         string // TOLLGATE_ORIGIN_SECRET
		baseURL     string // OpenAIBaseUrl
	}
	defaultCert := map[string]any{"CloudFrontDefaultCertificate": true}
	tests := []struct {
		name   string
		params map[string]string
		want   *want // nil: no front door
	}{
		{"none, the default", nil, nil},
		{"cloudfront", map[string]string{"FrontDoor": "cloudfront"}, &want{
			certificate: defaultCert,
			header:      secretRef(""), env: secretRef(""),
			baseURL: "https://d111111abcdef8.cloudfront.net/v1",
		}},
		{"cloudfront, custom domain, WAF", map[string]string{"FrontDoor": "cloudfront",
			"DomainName": "llm.example.com", "CertificateArn": cert, "WafRateLimit": "2000"}, &want{
			aliases:     []any{"llm.example.com"},
			certificate: map[string]any{"AcmCertificateArn": cert, "SslSupportMethod": "sni-only", "MinimumProtocolVersion": "TLSv1.2_2021"},
			webACL:      getAtt("WebAcl", "Arn"), rateLimit: "2000",
			header: secretRef(""), env: secretRef(""),
			baseURL: "https://llm.example.com/v1",
		}},
		{"cloudfront, an existing web ACL", map[string]string{"FrontDoor": "cloudfront", "WafRateLimit": "2000", "WebAclArn": webACL}, &want{
			certificate: defaultCert, webACL: webACL,
			header: secretRef(""), env: secretRef(""),
			baseURL: "https://d111111abcdef8.cloudfront.net/v1",
		}},
		{"cloudfront, rotating the secret", map[string]string{"FrontDoor": "cloudfront",
			"OriginSecretVersion": versionNew, "OriginSecretPreviousVersion": versionOld}, &want{
			certificate: defaultCert,
			header:      secretRef(versionNew), env: secretRef(versionNew) + "," + secretRef(versionOld),
			baseURL: "https://d111111abcdef8.cloudfront.net/v1",
		}},
		{"cloudfront, rotation done", map[string]string{"FrontDoor": "cloudfront", "OriginSecretVersion": versionNew}, &want{
			certificate: defaultCert,
			header:      secretRef(versionNew), env: secretRef(versionNew),
			baseURL: "https://d111111abcdef8.cloudfront.net/v1",
		}},
		// Stray front-door parameters change nothing without the front door.
		{"none, with a previous secret version", map[string]string{"OriginSecretPreviousVersion": versionOld, "WafRateLimit": "100"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, tt.params)
			if failed := s.rules(); len(failed) > 0 {
				t.Fatalf("the rules refuse the parameters: %v", failed)
			}
			env, hasEnv := s.functionEnv()["TOLLGATE_ORIGIN_SECRET"]
			if tt.want == nil {
				for _, r := range []string{"Distribution", "OriginSecret", "WebAcl"} {
					if _, _, ok := s.resource(r); ok {
						t.Errorf("resource %s without the front door", r)
					}
				}
				if hasEnv {
					t.Errorf("TOLLGATE_ORIGIN_SECRET = %q without the front door: the Function URL would refuse its clients", env)
				}
				for _, o := range []string{"FrontDoorUrl", "DistributionDomainName", "OriginSecretArn"} {
					if v, ok := s.output(o); ok {
						t.Errorf("output %s = %v without the front door", o, v)
					}
				}
				if v, _ := s.output("OpenAIBaseUrl"); v != attrs["GatewayUrl.FunctionUrl"]+"v1" {
					t.Errorf("OpenAIBaseUrl = %v, want the Function URL's /v1", v)
				}
				return
			}
			w := tt.want

			dc := s.mustResource("Distribution", "AWS::CloudFront::Distribution")["DistributionConfig"].(map[string]any)
			origins := dc["Origins"].([]any)
			if len(origins) != 1 {
				t.Fatalf("origins %v, want one", origins)
			}
			origin := origins[0].(map[string]any)
			behavior := dc["DefaultCacheBehavior"].(map[string]any)
			got := map[string]any{
				"HttpVersion": dc["HttpVersion"], "Enabled": dc["Enabled"],
				"Aliases": dc["Aliases"], "ViewerCertificate": dc["ViewerCertificate"], "WebACLId": dc["WebACLId"],
				"Origin.DomainName":   origin["DomainName"],
				"CustomOriginConfig":  origin["CustomOriginConfig"],
				"OriginCustomHeaders": origin["OriginCustomHeaders"],
				"TargetOriginId":      behavior["TargetOriginId"] == origin["Id"],
				"ViewerProtocol":      behavior["ViewerProtocolPolicy"],
				"AllowedMethods":      behavior["AllowedMethods"],
				"CachePolicyId":       behavior["CachePolicyId"],
				"OriginRequestPolicy": behavior["OriginRequestPolicyId"],
				"Compress":            behavior["Compress"],
			}
			wantDist := map[string]any{
				"HttpVersion": "http2and3", "Enabled": true,
				"Aliases": w.aliases, "ViewerCertificate": w.certificate, "WebACLId": w.webACL,
				// The Function URL's host, not the URL.
				"Origin.DomainName": "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws",
				"CustomOriginConfig": map[string]any{
					"OriginProtocolPolicy": "https-only", "OriginSSLProtocols": []any{"TLSv1.2"},
					"OriginReadTimeout": s.params["OriginReadTimeout"], "OriginKeepaliveTimeout": 60,
				},
				"OriginCustomHeaders": []any{map[string]any{"HeaderName": api.OriginHeader, "HeaderValue": w.header}},
				"TargetOriginId":      true,
				// https-only: a POST redirected from http would lose its body.
				"ViewerProtocol":      "https-only",
				"AllowedMethods":      []any{"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"},
				"CachePolicyId":       cachingDisabled,
				"OriginRequestPolicy": allViewerExceptHostHeader,
				"Compress":            false,
			}
			if w.aliases == nil {
				delete(wantDist, "Aliases")
				delete(got, "Aliases")
				if _, ok := dc["Aliases"]; ok {
					t.Errorf("Aliases %v without DomainName", dc["Aliases"])
				}
			}
			if diff := cmp.Diff(wantDist, got); diff != "" {
				t.Errorf("distribution (-want +got):\n%s", diff)
			}
			if s.params["OriginReadTimeout"] != "60" {
				t.Errorf("default OriginReadTimeout %v, want 60, the most CloudFront allows without a quota increase", s.params["OriginReadTimeout"])
			}
			// The function must have taken a new secret before an edge sends it.
			if deps := s.dependsOn("Distribution"); !slices.Contains(deps, "GatewayFunctionAliaslive") && !slices.Contains(deps, "GatewayFunction") {
				t.Errorf("Distribution DependsOn %v: it must wait for the function", deps)
			}

			// Both sides take the same secret; the function also the previous
			// one during a rotation.
			if env != w.env {
				t.Errorf("TOLLGATE_ORIGIN_SECRET = %q, want %q", env, w.env)
			}
			sec := s.mustResource("OriginSecret", "AWS::SecretsManager::Secret")["GenerateSecretString"].(map[string]any)
			var n int
			if err := json.Unmarshal([]byte(fmt.Sprint(sec["PasswordLength"])), &n); err != nil || n < api.MinOriginSecretLen {
				t.Errorf("PasswordLength %v: want at least api.MinOriginSecretLen (%d)", sec["PasswordLength"], api.MinOriginSecretLen)
			}
			if sec["ExcludePunctuation"] != true {
				t.Error("the secret may hold punctuation: a comma would split it in TOLLGATE_ORIGIN_SECRET")
			}

			acl, aclProps, made := s.resource("WebAcl")
			if made != (w.rateLimit != "") {
				t.Fatalf("web ACL made: %v (%s), want %v", made, acl, w.rateLimit != "")
			}
			if made {
				rule := aclProps["Rules"].([]any)[0].(map[string]any)
				got := map[string]any{"Scope": aclProps["Scope"], "DefaultAction": aclProps["DefaultAction"],
					"RateBasedStatement": rule["Statement"].(map[string]any)["RateBasedStatement"],
					"Response":           rule["Action"].(map[string]any)["Block"].(map[string]any)["CustomResponse"].(map[string]any)["ResponseCode"]}
				want := map[string]any{"Scope": "CLOUDFRONT", "DefaultAction": map[string]any{"Allow": map[string]any{}},
					"RateBasedStatement": map[string]any{"Limit": w.rateLimit, "EvaluationWindowSec": 300, "AggregateKeyType": "IP"},
					"Response":           429}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("web ACL (-want +got):\n%s", diff)
				}
				// The 429 is in OpenAI's envelope, with the type SDKs retry.
				key := rule["Action"].(map[string]any)["Block"].(map[string]any)["CustomResponse"].(map[string]any)["CustomResponseBodyKey"].(string)
				body := aclProps["CustomResponseBodies"].(map[string]any)[key].(map[string]any)
				var env struct {
					Error struct{ Message, Type, Code string }
				}
				if err := json.Unmarshal([]byte(str(t, body["Content"], "body")), &env); err != nil || env.Error.Type != "requests" || env.Error.Message == "" {
					t.Errorf("429 body %v (%v): want OpenAI's error envelope of type requests", body["Content"], err)
				}
			}

			outs := map[string]any{}
			for _, o := range []string{"OpenAIBaseUrl", "FrontDoorUrl", "DistributionDomainName", "OriginSecretArn"} {
				outs[o], _ = s.output(o)
			}
			wantOuts := map[string]any{
				"OpenAIBaseUrl": w.baseURL, "FrontDoorUrl": strings.TrimSuffix(w.baseURL, "v1"),
				"DistributionDomainName": attrs["Distribution.DomainName"], "OriginSecretArn": ref("OriginSecret"),
			}
			if diff := cmp.Diff(wantOuts, outs); diff != "" {
				t.Errorf("outputs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTemplateFrontDoorRules: parameters CloudFormation must refuse before
// it creates anything.
func TestTemplateFrontDoorRules(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		region string
		want   []string // rules that fail
	}{
		{"cloudfront needs a public URL", map[string]string{"FrontDoor": "cloudfront", "FunctionUrlAuthType": "AWS_IAM"}, "", []string{"FrontDoorNeedsAPublicUrl"}},
		{"a domain needs a certificate", map[string]string{"FrontDoor": "cloudfront", "DomainName": "llm.example.com"}, "", []string{"DomainNeedsCertificate"}},
		{"a domain needs the front door", map[string]string{"DomainName": "llm.example.com", "CertificateArn": cert}, "", []string{"DomainNeedsCertificate"}},
		{"a web ACL outside us-east-1", map[string]string{"FrontDoor": "cloudfront", "WafRateLimit": "1000"}, "eu-west-1", []string{"WebAclInUsEast1"}},
		{"an existing web ACL outside us-east-1", map[string]string{"FrontDoor": "cloudfront", "WafRateLimit": "1000", "WebAclArn": webACL}, "eu-west-1", nil},
		{"no web ACL outside us-east-1", map[string]string{"FrontDoor": "cloudfront"}, "eu-west-1", nil},
		{"a web ACL in us-east-1", map[string]string{"FrontDoor": "cloudfront", "WafRateLimit": "1000"}, "us-east-1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, tt.params)
			if tt.region != "" {
				s.pseudo["AWS::Region"] = tt.region
			}
			var got []string
			for _, f := range s.rules() {
				name, desc, _ := strings.Cut(f, ": ")
				if desc == "" {
					t.Errorf("rule %s fails without saying what to do", name)
				}
				got = append(got, name)
			}
			if diff := cmp.Diff(tt.want, slices.Compact(got)); diff != "" {
				t.Errorf("failing rules (-want +got):\n%s", diff)
			}
		})
	}
}

// resolveSecrets stands in for CloudFormation's dynamic references: each
// distinct reference becomes a distinct value of the secret's shape.
var dynamicRef = regexp.MustCompile(`\{\{resolve:secretsmanager:[^}]*\}\}`)

func resolveSecrets(v string) string {
	return dynamicRef.ReplaceAllStringFunc(v, func(r string) string {
		h := sha256.Sum256([]byte(r))
		return hex.EncodeToString(h[:24]) // 48 letters and digits
	})
}

// TestTemplateFrontDoorAgainstTheGateway runs the built gateway with the
// function's environment during a rotation, its dynamic references
// resolved: a request carrying what CloudFront sends gets through to
// authentication, and so does the previous secret; one without the
// header, or with another value, gets 403 origin_forbidden; the readiness
// route answers without it.
func TestTemplateFrontDoorAgainstTheGateway(t *testing.T) {
	s := newStack(t, map[string]string{"FrontDoor": "cloudfront",
		"OriginSecretVersion": versionNew, "OriginSecretPreviousVersion": versionOld})
	var env []string
	for _, kv := range lambdaEnv(s) {
		env = append(env, resolveSecrets(kv))
	}
	env = append(env, "TOLLGATE_ADDR=127.0.0.1:0", "TOLLGATE_SIM=1", "TOLLGATE_POLICIES="+t.TempDir(),
		"TOLLGATE_STORE=memory://", "TOLLGATE_ALLOW_LOCAL_STORE=1")
	p := startGateway(t, env)

	dc := s.mustResource("Distribution", "AWS::CloudFront::Distribution")["DistributionConfig"].(map[string]any)
	h := dc["Origins"].([]any)[0].(map[string]any)["OriginCustomHeaders"].([]any)[0].(map[string]any)
	name, sent := h["HeaderName"].(string), resolveSecrets(h["HeaderValue"].(string))
	previous := resolveSecrets(secretRef(versionOld))

	for _, tt := range []struct {
		name   string
		header string // "" for none
		want   int
	}{
		{"what CloudFront sends", sent, http.StatusUnauthorized}, // through, to authentication (no key sent)
		{"the previous secret", previous, http.StatusUnauthorized},
		{"no header: bypassed CloudFront", "", http.StatusForbidden},
		{"another value", resolveSecrets("{{resolve:secretsmanager:other}}"), http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, p.base+"/v1/models", nil)
			if tt.header != "" {
				req.Header.Set(name, tt.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body struct{ Error struct{ Code string } }
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusForbidden && body.Error.Code != "origin_forbidden" {
				t.Errorf("error code %q, want origin_forbidden", body.Error.Code)
			}
		})
	}
	path := s.functionEnv()["AWS_LWA_READINESS_CHECK_PATH"]
	if got := p.get(t, path); got != http.StatusOK {
		t.Errorf("GET %s without the header = %d: the Web Adapter's readiness probe would fail", path, got)
	}
}

func TestTemplateProvisionedConcurrency(t *testing.T) {
	raw := section(t, parseTemplate(t), "Resources")["GatewayFunction"].(map[string]any)["Properties"].(map[string]any)
	alias, _ := raw["AutoPublishAlias"].(string)
	if alias == "" {
		t.Fatal("GatewayFunction has no AutoPublishAlias: provisioned concurrency needs a version behind an alias")
	}
	// SAM names the alias resource it makes FUNCTION + "Alias" + NAME.
	aliasResource := "GatewayFunctionAlias" + alias

	for _, tt := range []struct {
		name      string
		params    map[string]string
		wantPC    any    // ProvisionedConcurrencyConfig; nil for none
		qualifier any    // the URL's; nil for none
		function  string // the permissions' FunctionName
	}{
		{"none, the default", nil, nil, nil, ref("GatewayFunction")},
		{"three", map[string]string{"ProvisionedConcurrency": "3"},
			map[string]any{"ProvisionedConcurrentExecutions": "3"}, alias, ref("GatewayFunction") + ":" + alias},
		{"three, behind CloudFront", map[string]string{"ProvisionedConcurrency": "3", "FrontDoor": "cloudfront"},
			map[string]any{"ProvisionedConcurrentExecutions": "3"}, alias, ref("GatewayFunction") + ":" + alias},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, tt.params)
			fn := s.mustResource("GatewayFunction", "AWS::Serverless::Function")
			if diff := cmp.Diff(tt.wantPC, fn["ProvisionedConcurrencyConfig"]); diff != "" {
				t.Errorf("ProvisionedConcurrencyConfig (-want +got):\n%s", diff)
			}
			// The URL must invoke what has the provisioned instances: the
			// alias, not $LATEST.
			u := s.mustResource("GatewayUrl", "AWS::Lambda::Url")
			if diff := cmp.Diff(tt.qualifier, u["Qualifier"]); diff != "" {
				t.Errorf("GatewayUrl Qualifier (-want +got):\n%s", diff)
			}
			for _, r := range []string{"GatewayUrl", "GatewayUrlPublicAccess", "GatewayUrlPublicInvoke"} {
				if !slices.Contains(s.dependsOn(r), aliasResource) {
					t.Errorf("%s does not depend on %s, which it may name", r, aliasResource)
				}
			}
			// The public URL's permissions are on what it invokes.
			for _, name := range s.resourcesOfType("AWS::Lambda::Permission") {
				if got := s.mustResource(name, "AWS::Lambda::Permission")["FunctionName"]; got != tt.function {
					t.Errorf("%s FunctionName = %v, want %s", name, got, tt.function)
				}
			}
			if _, _, ok := s.resource("Distribution"); ok && !slices.Contains(s.dependsOn("Distribution"), aliasResource) {
				t.Errorf("Distribution DependsOn %v: with the URL on the alias, the alias must have the new secret first", s.dependsOn("Distribution"))
			}
		})
	}
}

// TestTemplateCfnLint runs cfn-lint (which applies the SAM transform with
// aws-sam-translator first) on the template, with the default parameters
// and with the front door's. `sam validate --lint` runs the same linter.
func TestTemplateCfnLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not installed (pip install cfn-lint): the template is not linted")
	}
	for _, tt := range []struct {
		name   string
		params []string
	}{
		{"defaults", nil},
		{"front door", []string{"FrontDoor=cloudfront", "DomainName=llm.example.com", "CertificateArn=" + cert,
			"WafRateLimit=2000", "ProvisionedConcurrency=2", "OriginSecretVersion=" + versionNew, "OriginSecretPreviousVersion=" + versionOld}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"--format", "parseable"}
			if tt.params != nil {
				args = append(args, "--parameters")
				args = append(args, tt.params...)
			}
			abs, _ := filepath.Abs(templatePath)
			cmd := exec.Command(lint, append(args, "--", abs)...)
			cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION=us-east-1")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("cfn-lint: %v\n%s", err, out)
			}
		})
	}
}

// TestTemplateFrontDoorParameters checks the front door's parameter
// patterns (Go's regexp agrees with CloudFormation's on these) against
// values a user would type.
func TestTemplateFrontDoorParameters(t *testing.T) {
	params := section(t, parseTemplate(t), "Parameters")
	for _, tt := range []struct {
		param    string
		accepted []string
		refused  []string
	}{
		{"DomainName", []string{"", "llm.example.com", "gw.eu-1.example.co.uk"},
			[]string{"https://llm.example.com", "llm.example.com/", "localhost", "LLM.example.com"}},
		{"CertificateArn", []string{"", cert},
			// CloudFront takes certificates from us-east-1 only.
			[]string{"arn:aws:acm:eu-west-1:123456789012:certificate/0123abcd", "0123abcd-0000-0000-0000-000000000000"}},
		{"OriginSecretVersion", []string{"", versionNew, "EXAMPLE1-90ab-cdef-fedc-ba987SAMPLE"},
			[]string{"AWSCURRENT", "AWSPREVIOUS", versionNew + ":"}},
		{"OriginSecretPreviousVersion", []string{"", versionOld}, []string{"AWSPREVIOUS"}},
	} {
		p := params[tt.param].(map[string]any)
		re, err := regexp.Compile(str(t, p["AllowedPattern"], tt.param))
		if err != nil {
			t.Fatalf("%s AllowedPattern: %v", tt.param, err)
		}
		for _, v := range tt.accepted {
			if !re.MatchString(v) {
				t.Errorf("%s refuses %q", tt.param, v)
			}
		}
		for _, v := range tt.refused {
			if re.MatchString(v) {
				t.Errorf("%s accepts %q", tt.param, v)
			}
		}
		if def := fmt.Sprint(p["Default"]); !re.MatchString(def) {
			t.Errorf("%s refuses its own default %q", tt.param, def)
		}
	}
}
