"""The machinery the tests share, one module per fake or subject. Test modules and
conftest.py import from here, never from each other (tests/test_suite_structure.py
checks it, and that this list names every module):

- aws_endpoint: a recording stand-in for S3 and CloudFormation (AWS_ENDPOINT_URL).
- declined: each option's words, and the mentions of a declined one that are right.
- deploy_role: reading deploy-role.yaml, its parameters, the stack it is scoped to.
- dev_server: the generated `dev.py serve`, run and talked to over HTTP.
- documents: YAML as SAM CLI reads it, workflows, template.yaml after the transform.
- environments: the generated projects' venvs, and interpreters found on PATH.
- git: git with an identity of its own and no user configuration.
- github: the generated workflow's jobs, its expressions, a job's OIDC token.
- iam: an IAM policy evaluator (actions, resources, conditions).
- lambda_runtime: a build run by awslambdaric as Lambda runs it, and its output.
- layer: the Powertools layer's stand-in, and the layer as it is published.
- linters: cfn-lint and checkov, batched over many renderings.
- markdown: reading the generated Markdown.
- oasdiff: a stand-in for oasdiff's `breaking`, and the contract step run with it.
- pins: requirements files and the SAM CLI's hashed lock.
- processes: running commands, the pinned tools, a user's shell.
- prose: the prose of a rendered file: comments, docstrings, Markdown text.
- renders: pytest-cookies' bakes made once per run, and what reads them.
- runtime_api: the Lambda Runtime API and X-Ray daemon stand-ins.
- sam: one `sam build` per combination per run, and generated events.
- shared: work done once per run (or once across runs), keyed by content.
- template: the template's own files, and its hooks imported as modules.
- timeline: where a run's time goes (each worker's tests and waits).
- tools: the checkers installed apart (.ci/tools.txt), skipped or failed if absent.
"""
