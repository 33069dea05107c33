#!/bin/bash
# The official image's entrypoint, in short: for an nginx command, render the templates with
# envsubst (only variables set in the environment are replaced, so nginx's own $host etc.
# survive), run the executable /docker-entrypoint.d/*.sh in order, then run the command.
set -euo pipefail

if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
    template_dir=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
    suffix=${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}
    output_dir=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
    if [ -d "$template_dir" ]; then
        defined_envs=$(awk 'BEGIN { for (name in ENVIRON) printf "${%s} ", name }')
        while IFS= read -r -d '' template; do
            relative=${template#"$template_dir/"}
            output=$output_dir/${relative%"$suffix"}
            mkdir -p "$(dirname "$output")"
            echo "$0: Running envsubst on $template to $output"
            envsubst "$defined_envs" <"$template" >"$output"
        done < <(find "$template_dir" -follow -type f -name "*$suffix" -print0 | sort -z)
    fi

    for script in /docker-entrypoint.d/*.sh; do
        [ -e "$script" ] || continue
        if [ -x "$script" ]; then
            echo "$0: Launching $script"
            "$script"
        else
            echo "$0: Ignoring $script, not executable"
        fi
    done
    echo "$0: Configuration complete; ready for start up"
fi

exec "$@"
