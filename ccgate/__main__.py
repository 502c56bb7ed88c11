from ccgate.cli.entry import main

main()
