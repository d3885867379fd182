# bash completion for vigild(8).
# Installed as /usr/share/bash-completion/completions/vigild (loaded on first use).

_vigild() {
    local cur prev words cword
    _init_completion -s || return

    case $prev in
        --policy | --db)
            _filedir
            return
            ;;
        --watcher)
            COMPREPLY=($(compgen -W "auto fanotify inotify" -- "$cur"))
            return
            ;;
    esac
    $split && return
    COMPREPLY=($(compgen -W "--policy --db --watcher --help --version" -- "$cur"))
} &&
    complete -F _vigild vigild
