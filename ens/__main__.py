from ens.cli import main

main()
