# bash completion for vigil(8): subcommands, each subcommand's options, and their values.
# Installed as /usr/share/bash-completion/completions/vigil (loaded on first use).

_vigil() {
    local cur prev words cword
    _init_completion -s || return

    local commands="init check update report query history status verify prune"
    if ((cword == 1)); then
        COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
        return
    fi

    local command=${words[1]}
    case $prev in
        --policy | --db | --output | --key-file | --checkpoints)
            _filedir
            return
            ;;
        --under)
            _filedir -d
            return
            ;;
        --path)
            _filedir
            return
            ;;
        --format)
            case $command in
                check | update | status) COMPREPLY=($(compgen -W "text json" -- "$cur")) ;;
                report) COMPREPLY=($(compgen -W "text json html" -- "$cur")) ;;
                query | history) COMPREPLY=($(compgen -W "table json jsonl csv" -- "$cur")) ;;
            esac
            return
            ;;
        --action)
            # A comma-separated list: complete the word after the last comma.
            local actions="open read modify create delete rename attrib denied alert overflow rescan
                           baseline_update agent_start agent_stop checkpoint prune"
            local done_part="" last=$cur
            if [[ $cur == *,* ]]; then
                done_part=${cur%,*},
                last=${cur##*,}
            fi
            COMPREPLY=($(compgen -P "$done_part" -W "$actions" -- "$last"))
            compopt -o nospace
            return
            ;;
        --user)
            COMPREPLY=($(compgen -u -- "$cur"))
            return
            ;;
        --since | --until | --older-than)
            COMPREPLY=($(compgen -W "1h 24h 7d 30d 90d" -- "$cur"))
            return
            ;;
        --threads | --limit | --label)
            return  # a number or a name: nothing sensible to offer
            ;;
    esac
    $split && return

    local options
    case $command in
        init) options="--policy --db --threads" ;;
        check | update) options="--policy --db --format --threads" ;;
        report) options="--policy --db --since --format --output --threads" ;;
        query) options="--db --path --under --user --action --label --unexpected --since --until
                        --limit --reverse --format" ;;
        history) options="--db --format" ;;
        status) options="--db --format" ;;
        verify) options="--db --key-file --checkpoints" ;;
        prune) options="--older-than --db --dry-run" ;;
        *) return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$options --help" -- "$cur"))
        [[ ${COMPREPLY-} == *= ]] && compopt -o nospace
    elif [[ $command == history ]]; then
        _filedir  # the PATH whose timeline is wanted
    fi
} &&
    complete -F _vigil vigil
