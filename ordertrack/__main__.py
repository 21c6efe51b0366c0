from ordertrack.cli import main

main()
