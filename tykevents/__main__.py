from tykevents.cli import main

raise SystemExit(main())
