package demo

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/stele-audit/stele"
)

type rule struct {
	id, title, severity string
}

// sourceKind is a kind of integration a platform connects: what it is
// called, what its resources look like and which rules fire on them.
type sourceKind struct {
	typ, label string
	idPrefix   string
	names      []string
	resources  []string
	rules      []rule
}

var sourceKinds = []sourceKind{
	{typ: "aws", label: "AWS", idPrefix: "aws-",
		names:     []string{"production", "staging", "security", "data"},
		resources: []string{"s3://customer-exports", "s3://build-artifacts", "iam/role/ci-deployer", "iam/user/legacy-admin", "ec2/i-0a91f3c2be", "rds/orders-primary", "sg/sg-0bd21f", "kms/alias/app-data", "lambda/invoice-render", "cloudtrail/main"},
		rules: []rule{{"aws.s3.public_bucket", "S3 bucket allows public read", "critical"}, {"aws.iam.root_access_key", "Root account has an access key", "critical"},
			{"aws.iam.unused_credentials", "Credentials unused for 90 days", "medium"}, {"aws.ec2.open_ssh", "Security group allows SSH from 0.0.0.0/0", "high"},
			{"aws.rds.unencrypted", "RDS instance not encrypted at rest", "high"}, {"aws.cloudtrail.disabled", "CloudTrail logging disabled in a region", "high"},
			{"aws.kms.rotation_off", "KMS key rotation disabled", "low"}}},
	{typ: "github", label: "GitHub", idPrefix: "gh-",
		names:     []string{"org"},
		resources: []string{"repo/api-server", "repo/web-console", "repo/infra", "repo/mobile-app", "repo/docs", "org/members", "repo/payments"},
		rules: []rule{{"github.branch_protection_off", "Default branch is not protected", "medium"}, {"github.secret_in_repo", "Secret committed to repository", "critical"},
			{"github.outside_collaborator_admin", "Outside collaborator has admin rights", "high"}, {"github.2fa_not_required", "Organization does not require 2FA", "high"},
			{"github.stale_deploy_key", "Deploy key older than a year", "low"}}},
	{typ: "okta", label: "Okta", idPrefix: "okta-",
		names:     []string{"tenant"},
		resources: []string{"app/salesforce", "app/aws-sso", "policy/default-signon", "group/everyone", "user/contractor-17"},
		rules: []rule{{"okta.mfa_not_enforced", "Sign-on policy does not enforce MFA", "high"}, {"okta.admin_without_mfa", "Super admin without MFA", "critical"},
			{"okta.inactive_user", "Active user inactive for 90 days", "low"}, {"okta.session_lifetime", "Session lifetime above 12 hours", "medium"}}},
	{typ: "google_workspace", label: "Google Workspace", idPrefix: "gws-",
		names:     []string{"domain"},
		resources: []string{"drive/shared/finance", "drive/shared/hr", "user/intern", "oauth/app/calendar-sync", "mail/forwarding"},
		rules: []rule{{"gws.external_sharing", "File shared publicly with link", "high"}, {"gws.oauth_risky_scope", "Third-party app with full Drive access", "medium"},
			{"gws.mail_forwarding", "Automatic forwarding to an external address", "high"}}},
	{typ: "slack", label: "Slack", idPrefix: "slack-",
		names:     []string{"workspace"},
		resources: []string{"channel/#general", "channel/#eng-oncall", "app/giphy", "channel/#ext-partners"},
		rules: []rule{{"slack.public_channel_secret", "Secret posted in a public channel", "critical"}, {"slack.guest_access", "Guest with access to internal channels", "medium"},
			{"slack.unapproved_app", "Unapproved app installed", "low"}}},
	{typ: "azure", label: "Azure", idPrefix: "azure-",
		names:     []string{"subscription"},
		resources: []string{"storage/backupsprod", "vm/jumpbox-01", "keyvault/app-secrets", "nsg/web-tier", "aad/app/legacy-sync"},
		rules: []rule{{"azure.storage_public", "Storage account allows public blob access", "critical"}, {"azure.nsg_open_rdp", "NSG allows RDP from the internet", "high"},
			{"azure.keyvault_no_purge_protection", "Key vault without purge protection", "medium"}}},
	{typ: "gcp", label: "GCP", idPrefix: "gcp-",
		names:     []string{"analytics", "platform"},
		resources: []string{"gcs/raw-events", "gce/etl-worker-3", "iam/sa/dataflow", "bq/warehouse", "gke/prod-cluster"},
		rules: []rule{{"gcp.sa_key_old", "Service account key older than 90 days", "medium"}, {"gcp.bucket_public", "Bucket readable by allUsers", "critical"},
			{"gcp.gke_legacy_abac", "GKE cluster uses legacy ABAC", "high"}, {"gcp.default_sa_editor", "Default service account has Editor", "high"}}},
}

var scanEvery = []time.Duration{time.Hour, 2 * time.Hour, 30 * time.Minute, 4 * time.Hour}

func newSource(r *rand.Rand, k sourceKind, p profile, i int) *source {
	name := pick(r, k.names)
	id := k.idPrefix + name + "-" + strconv.Itoa(100+r.IntN(900))
	label := k.label + " " + name
	if k.typ == "aws" || k.typ == "gcp" {
		id = k.idPrefix + name[:min(4, len(name))] + "-" + strconv.Itoa(100000000000+r.IntN(899999999999))
	}
	if len(k.names) == 1 {
		label = k.label + " " + p.company
		if k.typ == "github" {
			id = "gh-" + p.name
			label = "GitHub " + p.name
		}
	}
	s := &source{
		ref:       stele.Ref{Type: k.typ, ID: id, Name: label},
		kind:      k.label,
		every:     scanEvery[(i+r.IntN(2))%len(scanEvery)],
		resources: k.resources,
		rules:     k.rules,
	}
	for range 3 + r.IntN(6) {
		s.open = append(s.open, s.newFinding(r))
	}
	return s
}

func (s *source) newFinding(r *rand.Rand) finding {
	s.next++
	ru := pick(r, s.rules)
	return finding{
		id:       "fnd_" + s.ref.ID + "_" + strconv.Itoa(s.next),
		rule:     ru.id,
		resource: pick(r, s.resources),
		severity: ru.severity,
	}
}

func (s *source) ruleTitle(id string) string {
	for _, ru := range s.rules {
		if ru.id == id {
			return ru.title
		}
	}
	return id
}
