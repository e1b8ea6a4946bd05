from maskdash.cli import main

raise SystemExit(main())
