"""`python -m bot.cli`: the same as the `minqing` command."""

from bot.cli import main

main()
