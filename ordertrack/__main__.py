from ordertrack.cli.app import main

main()
