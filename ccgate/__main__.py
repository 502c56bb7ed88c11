from ccgate.cli.main import main

main()
