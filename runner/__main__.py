from runner.host.cli import main

raise SystemExit(main())
